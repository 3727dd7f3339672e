package mqttbridge

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// packetLimiter sits between the broker's connection and paho, which reads
// each packet whole into memory before anyone can look at its size (paho
// v1 has no limit): a 200 MiB message cost 600 MB. It follows the MQTT
// 3.1.1 packets going by (fixed header §2.2, PUBLISH §3.3) and hands paho
// a PUBLISH whose payload is over max with the payload replaced by a short
// marker (skippedPayload) and the remaining length rewritten to match,
// then discards the real payload from the connection as it arrives,
// never holding more than the read buffer. paho delivers the message as
// usual, the bridge refuses it as malformed and acknowledges it, so that
// the broker does not send it again. Any other packet over max ends the
// connection: brokers send no large ones.
type packetLimiter struct {
	r       *bufio.Reader
	max     int
	pending []byte // a header to hand paho before the rest of its packet
	pass    int    // bytes of the current packet to hand over unchanged
	skip    int    // bytes of an oversized payload to discard
}

// errPacketTooLarge ends a connection whose broker sent a packet other
// than a PUBLISH over the limit.
var errPacketTooLarge = errors.New("mqtt: a packet from the broker is larger than the bridge reads")

const publishType = 3

// skippedPrefix starts the payload that replaces an oversized one; no JSON
// document starts with a NUL byte.
const skippedPrefix = "\x00geohub: skipped unread, bytes: "

// skippedPayload returns the size of the payload a marker replaced.
func skippedPayload(payload []byte) (int, bool) {
	rest, ok := bytes.CutPrefix(payload, []byte(skippedPrefix))
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(string(rest))
	return n, err == nil
}

func newPacketLimiter(r *bufio.Reader, max int) *packetLimiter {
	return &packetLimiter{r: r, max: max}
}

func (l *packetLimiter) Read(p []byte) (int, error) {
	for {
		switch {
		case len(l.pending) > 0:
			n := copy(p, l.pending)
			l.pending = l.pending[n:]
			return n, nil
		case l.pass > 0:
			n, err := l.r.Read(p[:min(len(p), l.pass)])
			l.pass -= n
			return n, err
		case l.skip > 0:
			n, err := l.r.Discard(l.skip)
			l.skip -= n
			if err != nil {
				return 0, err
			}
		default:
			if err := l.next(); err != nil {
				return 0, err
			}
		}
	}
}

// next reads the next packet's fixed header (and, for a PUBLISH that may
// be over the limit, its variable header) and decides what paho gets.
func (l *packetLimiter) next() error {
	first, err := l.r.ReadByte()
	if err != nil {
		return err
	}
	length, lenBytes, err := readLength(l.r)
	if err != nil {
		return err
	}
	header := append([]byte{first}, lenBytes...)
	if first>>4 != publishType {
		if length > l.max {
			return fmt.Errorf("%w: type %d, %d bytes", errPacketTooLarge, first>>4, length)
		}
		l.pending, l.pass = header, length
		return nil
	}
	if length <= l.max {
		l.pending, l.pass = header, length
		return nil
	}
	// The topic, and the packet identifier for QoS 1 and 2: at most
	// 65,539 bytes.
	var tl [2]byte
	if _, err := io.ReadFull(l.r, tl[:]); err != nil {
		return err
	}
	vh := 2 + int(binary.BigEndian.Uint16(tl[:]))
	if (first>>1)&3 > 0 {
		vh += 2
	}
	if vh > length {
		return fmt.Errorf("mqtt: a PUBLISH whose topic is longer than the packet")
	}
	varHeader := make([]byte, vh)
	copy(varHeader, tl[:])
	if _, err := io.ReadFull(l.r, varHeader[2:]); err != nil {
		return err
	}
	payload := length - vh
	if payload <= l.max {
		l.pending, l.pass = append(header, varHeader...), payload
		return nil
	}
	marker := skippedPrefix + strconv.Itoa(payload)
	l.pending = append(append(append([]byte{first}, encodeLength(vh+len(marker))...), varHeader...), marker...)
	l.skip = payload
	return nil
}

// readLength reads a remaining length (MQTT 3.1.1 §2.2.3): one to four
// bytes, seven bits each, least significant first.
func readLength(r io.ByteReader) (int, []byte, error) {
	var n, shift int
	var raw []byte
	for range 4 {
		b, err := r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		raw = append(raw, b)
		n |= int(b&0x7f) << shift
		shift += 7
		if b&0x80 == 0 {
			return n, raw, nil
		}
	}
	return 0, nil, errors.New("mqtt: a remaining length of more than four bytes")
}

func encodeLength(n int) []byte {
	var out []byte
	for {
		b := byte(n & 0x7f)
		n >>= 7
		if n > 0 {
			b |= 0x80
		}
		out = append(out, b)
		if n == 0 {
			return out
		}
	}
}
