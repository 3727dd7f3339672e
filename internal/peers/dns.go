package peers

import (
	"encoding/binary"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
)

// loopbackDNS is the name server of a peer that finds other servers
// through DNS alone (ejabberd): on loopback, it answers the SRV questions
// for the services the test routes (Route) with "localhost" and a port,
// and every other question with "no such name", so that the peer reaches
// the test's servers and asks nothing off the machine.
type loopbackDNS struct {
	conn net.PacketConn
	mu   sync.Mutex
	srv  map[string]uint16 // lowercased "_service._tcp.domain" -> port on localhost
}

func startLoopbackDNS() (*loopbackDNS, error) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	d := &loopbackDNS{conn: c, srv: map[string]uint16{}}
	go d.serve()
	return d, nil
}

// Port is the UDP port it answers on.
func (d *loopbackDNS) Port() int { return d.conn.LocalAddr().(*net.UDPAddr).Port }

// route makes the SRV record of service (such as "_xmpp-server._tcp")
// at domain point at addr, which must be on 127.0.0.1.
func (d *loopbackDNS) route(service, domain, addr string) error {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil || host != "127.0.0.1" {
		return fmt.Errorf("peers: %q is not a port on 127.0.0.1", addr)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.srv[strings.ToLower(service+"."+domain)] = uint16(port)
	return nil
}

func (d *loopbackDNS) Close() error { return d.conn.Close() }

// serve answers questions until the connection is closed.
func (d *loopbackDNS) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := d.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		if r := d.answer(buf[:n]); r != nil {
			d.conn.WriteTo(r, from)
		}
	}
}

// typeSRV is the SRV record type (RFC 2782).
const typeSRV = 33

// answer is the response to the query q (RFC 1035 §4.1): the question
// echoed with QR set and either one SRV record pointing at localhost or
// RCODE 3, no such name. nil ignores a malformed query.
func (d *loopbackDNS) answer(q []byte) []byte {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:6]) != 1 {
		return nil
	}
	var labels []string
	end := 12
	for end < len(q) && q[end] != 0 {
		l := int(q[end])
		if l > 63 || end+1+l > len(q) {
			return nil
		}
		labels = append(labels, string(q[end+1:end+1+l]))
		end += 1 + l
	}
	end += 5 // the root label, QTYPE, QCLASS
	if end > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[end-4:])
	d.mu.Lock()
	port, ok := d.srv[strings.ToLower(strings.Join(labels, "."))]
	d.mu.Unlock()
	r := append([]byte(nil), q[:end]...)
	r[2] = 0x80 | q[2]&0x79 // QR, opcode and RD as asked
	binary.BigEndian.PutUint16(r[8:], 0)
	binary.BigEndian.PutUint16(r[10:], 0)
	if !ok || qtype != typeSRV {
		r[3] = 0x80 | 3 // RA, NXDOMAIN
		binary.BigEndian.PutUint16(r[6:], 0)
		return r
	}
	r[3] = 0x80 // RA, no error
	binary.BigEndian.PutUint16(r[6:], 1)
	target := []byte("\x09localhost\x00")
	r = append(r, 0xc0, 12) // the name: a pointer to the question's
	r = binary.BigEndian.AppendUint16(r, typeSRV)
	r = binary.BigEndian.AppendUint16(r, 1) // class IN
	r = binary.BigEndian.AppendUint32(r, 1) // TTL, seconds
	r = binary.BigEndian.AppendUint16(r, uint16(6+len(target)))
	r = binary.BigEndian.AppendUint16(r, 0) // priority
	r = binary.BigEndian.AppendUint16(r, 0) // weight
	r = binary.BigEndian.AppendUint16(r, port)
	return append(r, target...)
}
