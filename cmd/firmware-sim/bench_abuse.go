package main

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
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
	// Errors: what went wrong for the abusive clients, by kind (a
	// refused login of a flooder or staller is one).
	Errors map[string]uint64 `json:"errors"`
}

// abuse runs abusive clients against a server until stopped.
type abuse struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	messages, floodLogins, reconnects, badLogins, stallers atomic.Uint64

	mu     sync.Mutex
	counts abuseCounts
}

// failed counts an error of kind, unless the phase has ended (which
// ends every client with one).
func (a *abuse) failed(ctx context.Context, kind string, err error) {
	if ctx.Err() != nil {
		return
	}
	what := err.Error()
	switch {
	case strings.Contains(what, "not-authorized"):
		what = "not-authorized"
	case strings.Contains(what, "temporary-auth-failure"):
		what = "temporary-auth-failure"
	case strings.Contains(what, "policy-violation"):
		what = "policy-violation"
	case strings.Contains(what, "timeout"):
		what = "timeout"
	case strings.Contains(what, "EOF") || strings.Contains(what, "reset") || strings.Contains(what, "closed"):
		what = "connection closed"
	default:
		what = "other"
	}
	a.mu.Lock()
	a.counts.Errors[kind+": "+what]++
	a.mu.Unlock()
}

// startAbuse starts len(accounts) abusive clients, a quarter of each kind
// (client i is of kind i mod 4): flooders send chat messages as fast as
// the hub reads them, half to the operator subscribed to the node and
// half to a staller; reconnectors connect, start TLS and drop the
// connection, again and again; brute-forcers try wrong passwords for
// their own account, SASL PLAIN and SCRAM-SHA-256 in turn; stallers log
// in, send presence and never read. Each uses its own account. Each kind
// connects from its own loopback address (127.0.0.2 to 127.0.0.5), not
// the honest devices' 127.0.0.1, as attackers come from elsewhere: a
// limit per address that one kind trips holds back neither the devices
// nor the other kinds.
func startAbuse(ctx context.Context, hub firmwaresim.Hub, accounts []firmwaresim.Account, operator string) *abuse {
	ctx, cancel := context.WithCancel(ctx)
	a := &abuse{cancel: cancel, counts: abuseCounts{Errors: map[string]uint64{}}}
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
			a.wg.Go(func() { a.flood(ctx, hub, acct, targets, abuserAddr(0)) })
		case 1:
			a.counts.Reconnectors++
			a.wg.Go(func() { a.reconnect(ctx, hub, abuserAddr(1)) })
		case 2:
			a.counts.BruteForcers++
			a.wg.Go(func() { a.bruteForce(ctx, hub, acct, abuserAddr(2)) })
		case 3:
			a.counts.Stallers++
			a.wg.Go(func() { a.stall(ctx, hub, acct, abuserAddr(3)) })
		}
	}
	return a
}

// abuserAddr is the loopback address that abusive clients of a kind
// connect from.
func abuserAddr(kind int) *net.TCPAddr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+kind))}
}

// stop ends every abusive client, waits for them and returns the counts.
func (a *abuse) stop() abuseCounts {
	a.cancel()
	a.wg.Wait()
	c := a.counts
	c.Messages, c.FloodLogins, c.Reconnects = a.messages.Load(), a.floodLogins.Load(), a.reconnects.Load()
	c.BadLogins, c.StallersOnline = a.badLogins.Load(), a.stallers.Load()
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

// floodChunk is how many messages a flooder writes at once: the
// flooders cost the load generator (on the hub's machine) little, as an
// attacker's own machine would.
const floodChunk = 64

func (a *abuse) flood(ctx context.Context, hub firmwaresim.Hub, acct firmwaresim.Account, targets []string, from *net.TCPAddr) {
	body := strings.Repeat("flood ", 20)
	var chunk []byte
	for n := range floodChunk {
		chunk = append(chunk, "<message type='chat'"...)
		chunk = xmlesc.Attr(chunk, "to", targets[n%len(targets)])
		chunk = append(chunk, "><body>"+body+"</body></message>"...)
	}
	for ctx.Err() == nil {
		s, conn, err := login(ctx, hub, acct, acct.Password, sasl.ScramSha256, from)
		if err != nil {
			a.failed(ctx, "flood login", err)
			pause(ctx)
			continue
		}
		a.floodLogins.Add(1)
		// The stream is open: whole stanzas written straight to the TLS
		// connection, what the hub sends read and thrown away (its pings
		// go unanswered; the phase is far shorter than its idle timeout).
		tlsConn := s.Conn()
		go io.Copy(io.Discard, tlsConn)
		dropped := context.AfterFunc(ctx, func() { conn.Close() })
		for ctx.Err() == nil {
			if _, err := tlsConn.Write(chunk); err != nil {
				a.failed(ctx, "flood", err)
				break
			}
			a.messages.Add(floodChunk)
		}
		if dropped() {
			conn.Close()
		}
		pause(ctx)
	}
}

func (a *abuse) reconnect(ctx context.Context, hub firmwaresim.Hub, from *net.TCPAddr) {
	cfg := hub.TLS.Clone()
	cfg.ServerName = "localhost"
	for ctx.Err() == nil {
		if err := startTLSAndDrop(ctx, hub.Addr, cfg, from); err != nil {
			a.failed(ctx, "reconnect", err)
			pause(ctx)
			continue
		}
		a.reconnects.Add(1)
	}
}

func (a *abuse) bruteForce(ctx context.Context, hub firmwaresim.Hub, acct firmwaresim.Account, from *net.TCPAddr) {
	cfg := hub.TLS.Clone()
	cfg.ServerName = "localhost"
	user, _, _ := strings.Cut(acct.JID, "@")
	mechs := []string{"PLAIN", "SCRAM-SHA-256"}
	for n := 0; ctx.Err() == nil; n++ {
		err := guessPassword(ctx, hub.Addr, cfg, from, user, mechs[n%2])
		switch {
		case err == nil:
			a.failed(ctx, "brute force", errors.New("a wrong password was accepted"))
		case strings.Contains(err.Error(), "not-authorized") || strings.Contains(err.Error(), "temporary-auth-failure"):
			a.badLogins.Add(1)
		default:
			a.failed(ctx, "brute force", err)
			pause(ctx)
		}
	}
}

func (a *abuse) stall(ctx context.Context, hub firmwaresim.Hub, acct firmwaresim.Account, from *net.TCPAddr) {
	var s *xmpp.Session
	var conn net.Conn
	var err error
	// A staller that the hub refused tries again: its place is among
	// the stalled sessions.
	for s == nil {
		if s, conn, err = login(ctx, hub, acct, acct.Password, sasl.ScramSha256, from); err != nil {
			a.failed(ctx, "stall login", err)
			if !pause(ctx) {
				return
			}
		}
	}
	defer conn.Close()
	// Presence, so that messages to the bare JID come here; then nothing
	// is ever read.
	if err := s.Send(ctx, xml.NewDecoder(strings.NewReader("<presence/>"))); err != nil {
		a.failed(ctx, "stall", err)
		return
	}
	a.stallers.Add(1)
	<-ctx.Done()
}

// login negotiates STARTTLS, SASL with one mechanism and a resource, with
// mellium, and does not serve the session: nothing reads it afterwards.
func login(ctx context.Context, hub firmwaresim.Hub, acct firmwaresim.Account, password string, mech sasl.Mechanism,
	from *net.TCPAddr) (*xmpp.Session, net.Conn, error) {
	j, err := jid.Parse(acct.JID)
	if err == nil {
		j, err = j.WithResource("abuse")
	}
	if err != nil {
		return nil, nil, err
	}
	cfg := hub.TLS.Clone()
	cfg.ServerName = j.Domain().String()
	d := net.Dialer{LocalAddr: from}
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
