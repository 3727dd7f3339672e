package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/xml"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	firmwaresim "github.com/geohub/geohub/firmware-sim"
	"github.com/geohub/geohub/internal/xmlesc"
)

// abuseCounts is what the abusive clients of --abuse got done while they
// ran: the number of clients of each kind and their work.
type abuseCounts struct {
	Flooders     int `json:"flooders"`
	Reconnectors int `json:"reconnectors"`
	BruteForcers int `json:"brute_forcers"`
	Stallers     int `json:"stallers"`

	// Messages: chat messages the flooders wrote; FloodLogins: their
	// logins (again after the hub ended a session).
	Messages    uint64 `json:"messages"`
	FloodLogins uint64 `json:"flood_logins"`
	// Reconnects: TLS handshakes after STARTTLS, each on a new connection
	// dropped at once.
	Reconnects uint64 `json:"reconnects"`
	// BadLogins: wrong-password SASL attempts the hub answered.
	BadLogins uint64 `json:"bad_logins"`
	// StallersOnline: stalling sessions that logged in and then never read.
	StallersOnline uint64 `json:"stallers_online"`
	Errors         uint64 `json:"errors"`
}

// abuse runs abusive clients against a server until stopped.
type abuse struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	messages, floodLogins, reconnects, badLogins, stallers, errors atomic.Uint64
	counts                                                         abuseCounts
}

// startAbuse starts len(accounts) abusive clients, a quarter of each kind
// (client i is of kind i mod 4): flooders send chat messages as fast as
// the hub reads them, half to the operator subscribed to the node and
// half to a staller; reconnectors connect, start TLS and drop the
// connection, again and again; brute-forcers try wrong passwords for
// their own account, SASL PLAIN and SCRAM-SHA-256 in turn; stallers log
// in, send presence and never read. Each uses its own account.
func startAbuse(ctx context.Context, hub firmwaresim.Hub, accounts []firmwaresim.Account, operator string) *abuse {
	ctx, cancel := context.WithCancel(ctx)
	a := &abuse{cancel: cancel}
	var stallerJIDs []string
	for i, acct := range accounts {
		if i%4 == 3 {
			stallerJIDs = append(stallerJIDs, acct.JID)
		}
	}
	for i, acct := range accounts {
		switch i % 4 {
		case 0:
			a.counts.Flooders++
			targets := []string{operator}
			if len(stallerJIDs) > 0 {
				targets = append(targets, stallerJIDs[(i/4)%len(stallerJIDs)])
			}
			a.wg.Go(func() { a.flood(ctx, hub, acct, targets) })
		case 1:
			a.counts.Reconnectors++
			a.wg.Go(func() { a.reconnect(ctx, hub, acct) })
		case 2:
			a.counts.BruteForcers++
			a.wg.Go(func() { a.bruteForce(ctx, hub, acct) })
		case 3:
			a.counts.Stallers++
			a.wg.Go(func() { a.stall(ctx, hub, acct) })
		}
	}
	return a
}

// stop ends every abusive client, waits for them and returns the counts.
func (a *abuse) stop() abuseCounts {
	a.cancel()
	a.wg.Wait()
	c := a.counts
	c.Messages, c.FloodLogins, c.Reconnects = a.messages.Load(), a.floodLogins.Load(), a.reconnects.Load()
	c.BadLogins, c.StallersOnline, c.Errors = a.badLogins.Load(), a.stallers.Load(), a.errors.Load()
	return c
}

// pause waits a little after a failure, so that a refused client does
// not spin; false when ctx ended.
func pause(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(100 * time.Millisecond):
		return true
	}
}

func (a *abuse) flood(ctx context.Context, hub firmwaresim.Hub, acct firmwaresim.Account, targets []string) {
	body := strings.Repeat("flood ", 20)
	msgs := make([]string, len(targets))
	for i, to := range targets {
		msgs[i] = "<message type='chat'" + string(xmlesc.Attr(nil, "to", to)) + "><body>" + body + "</body></message>"
	}
	for ctx.Err() == nil {
		cl, err := firmwaresim.Dial(ctx, hub, acct, "flood")
		if err != nil {
			a.errors.Add(1)
			pause(ctx)
			continue
		}
		a.floodLogins.Add(1)
		// A write the hub does not read blocks: closing the connection
		// ends it when the phase does.
		dropped := context.AfterFunc(ctx, cl.Drop)
		for n := 0; ctx.Err() == nil; n++ {
			if err := cl.Send(ctx, msgs[n%len(msgs)]); err != nil {
				if ctx.Err() == nil {
					a.errors.Add(1)
				}
				break
			}
			a.messages.Add(1)
		}
		if dropped() {
			cl.Drop()
		}
		pause(ctx)
	}
}

// streamHeader opens a client stream to localhost.
const streamHeader = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' " +
	"xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"

func (a *abuse) reconnect(ctx context.Context, hub firmwaresim.Hub, _ firmwaresim.Account) {
	cfg := hub.TLS.Clone()
	cfg.ServerName = "localhost"
	for ctx.Err() == nil {
		if err := startTLSAndDrop(ctx, hub.Addr, cfg); err != nil {
			if ctx.Err() == nil {
				a.errors.Add(1)
				pause(ctx)
			}
			continue
		}
		a.reconnects.Add(1)
	}
}

// startTLSAndDrop connects, asks for STARTTLS, completes the handshake
// and closes the connection without a word more.
func startTLSAndDrop(ctx context.Context, addr string, cfg *tls.Config) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	defer context.AfterFunc(ctx, func() { conn.Close() })()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(streamHeader)); err != nil {
		return err
	}
	if err := readUntil(conn, "</stream:features>"); err != nil {
		return err
	}
	if _, err := conn.Write([]byte("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")); err != nil {
		return err
	}
	if err := readUntil(conn, "<proceed"); err != nil {
		return err
	}
	return tls.Client(conn, cfg).HandshakeContext(ctx)
}

// readUntil reads conn until what it read holds want. The peer sends
// nothing after the features or <proceed/> until it is answered, so
// nothing past want is lost.
func readUntil(conn net.Conn, want string) error {
	var got []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(got, []byte(want)) {
		n, err := conn.Read(buf)
		if err != nil {
			return err
		}
		got = append(got, buf[:n]...)
	}
	return nil
}

func (a *abuse) bruteForce(ctx context.Context, hub firmwaresim.Hub, acct firmwaresim.Account) {
	mechs := []sasl.Mechanism{sasl.Plain, sasl.ScramSha256}
	for n := 0; ctx.Err() == nil; n++ {
		s, conn, err := login(ctx, hub, acct, acct.Password+"-wrong", mechs[n%2])
		switch {
		case err == nil:
			// The wrong password worked: no brute force, but say so.
			a.errors.Add(1)
			s.Close()
			conn.Close()
		case strings.Contains(err.Error(), "not-authorized") || strings.Contains(err.Error(), "temporary-auth-failure"):
			a.badLogins.Add(1)
		case ctx.Err() == nil:
			a.errors.Add(1)
			pause(ctx)
		}
	}
}

func (a *abuse) stall(ctx context.Context, hub firmwaresim.Hub, acct firmwaresim.Account) {
	s, conn, err := login(ctx, hub, acct, acct.Password, sasl.ScramSha256)
	if err != nil {
		a.errors.Add(1)
		return
	}
	defer conn.Close()
	// Presence, so that messages to the bare JID come here; then nothing
	// is ever read.
	if err := s.Send(ctx, xml.NewDecoder(strings.NewReader("<presence/>"))); err != nil {
		a.errors.Add(1)
		return
	}
	a.stallers.Add(1)
	<-ctx.Done()
}

// login negotiates STARTTLS, SASL with one mechanism and a resource, with
// mellium, and does not serve the session: nothing reads it afterwards.
func login(ctx context.Context, hub firmwaresim.Hub, acct firmwaresim.Account, password string, mech sasl.Mechanism) (*xmpp.Session, net.Conn, error) {
	j, err := jid.Parse(acct.JID)
	if err == nil {
		j, err = j.WithResource("abuse")
	}
	if err != nil {
		return nil, nil, err
	}
	cfg := hub.TLS.Clone()
	cfg.ServerName = j.Domain().String()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", hub.Addr)
	if err != nil {
		return nil, nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	s, err := xmpp.NewClientSession(ctx, j, conn,
		xmpp.StartTLS(cfg), xmpp.SASL("", password, mech), xmpp.BindResource())
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	conn.SetDeadline(time.Time{})
	return s, conn, nil
}
