package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net"
	"strings"
	"time"
)

// The abusive clients speak raw XMPP: an attacker spends its CPU on the
// hub, not on parsing, and the load generator shares the hub's machine.

// streamHeader opens a client stream to localhost.
const streamHeader = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' " +
	"xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"

// startTLS connects from the address from, asks for STARTTLS and
// completes the handshake. The connection ends with ctx and has a
// deadline of 10 s.
func startTLS(ctx context.Context, addr string, cfg *tls.Config, from *net.TCPAddr) (*tls.Conn, error) {
	d := net.Dialer{LocalAddr: from}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	tlsConn, err := func() (*tls.Conn, error) {
		if _, err := conn.Write([]byte(streamHeader)); err != nil {
			return nil, err
		}
		if _, err := readUntil(conn, "</stream:features>"); err != nil {
			return nil, err
		}
		if _, err := conn.Write([]byte("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")); err != nil {
			return nil, err
		}
		if _, err := readUntil(conn, "<proceed"); err != nil {
			return nil, err
		}
		c := tls.Client(conn, cfg)
		return c, c.HandshakeContext(ctx)
	}()
	if err != nil {
		stop()
		conn.Close()
		return nil, err
	}
	return tlsConn, nil
}

// startTLSAndDrop connects, starts TLS and closes the connection without
// a word more.
func startTLSAndDrop(ctx context.Context, addr string, cfg *tls.Config, from *net.TCPAddr) error {
	c, err := startTLS(ctx, addr, cfg, from)
	if err != nil {
		return err
	}
	return c.Close()
}

// guessPassword tries one wrong password for user with mech (PLAIN or
// SCRAM-SHA-256, whose proof is random bytes: what the hub checks is the
// same) on a new connection. It returns nil if the hub accepted it, else
// the hub's answer as an error.
func guessPassword(ctx context.Context, addr string, cfg *tls.Config, from *net.TCPAddr, user, mech string) error {
	c, err := startTLS(ctx, addr, cfg, from)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write([]byte(streamHeader)); err != nil {
		return err
	}
	if _, err := readUntil(c, "</stream:features>"); err != nil {
		return err
	}
	const ns = " xmlns='urn:ietf:params:xml:ns:xmpp-sasl'"
	b64 := base64.StdEncoding.EncodeToString
	first := "\x00" + user + "\x00wrong-" + rand.Text()
	if mech != "PLAIN" {
		first = "n,,n=" + user + ",r=" + rand.Text()
	}
	if _, err := c.Write([]byte("<auth" + ns + " mechanism='" + mech + "'>" + b64([]byte(first)) + "</auth>")); err != nil {
		return err
	}
	got, err := readUntil(c, "</challenge>", "</failure>", "<success", "</stream:stream>")
	if err != nil || !strings.Contains(got, "</challenge>") {
		return saslOutcome(got, err)
	}
	challenge, err := base64.StdEncoding.DecodeString(between(got, ">", "</challenge>"))
	if err != nil {
		return err
	}
	nonce := between(string(challenge)+",", "r=", ",")
	proof := make([]byte, 32)
	rand.Read(proof)
	final := "c=biws,r=" + nonce + ",p=" + b64(proof)
	if _, err := c.Write([]byte("<response" + ns + ">" + b64([]byte(final)) + "</response>")); err != nil {
		return err
	}
	return saslOutcome(readUntil(c, "</failure>", "<success", "</stream:stream>"))
}

// saslOutcome turns what the hub answered to an authentication into nil
// (success) or an error naming the failure's condition.
func saslOutcome(got string, err error) error {
	switch {
	case err != nil:
		return err
	case strings.Contains(got, "<success"):
		return nil
	case strings.Contains(got, "temporary-auth-failure"):
		return errors.New("temporary-auth-failure")
	case strings.Contains(got, "not-authorized"):
		return errors.New("not-authorized")
	}
	return errors.New("unexpected answer: " + got)
}

// between returns what s holds after the last start before end.
func between(s, start, end string) string {
	s, _, _ = strings.Cut(s, end)
	if i := strings.LastIndex(s, start); i >= 0 {
		return s[i+len(start):]
	}
	return ""
}

// readUntil reads conn until what it read holds one of wants. The peer
// sends nothing after what is waited for until it is answered, so
// nothing past it is lost.
func readUntil(conn net.Conn, wants ...string) (string, error) {
	var got []byte
	buf := make([]byte, 4096)
	for {
		for _, w := range wants {
			if bytes.Contains(got, []byte(w)) {
				return string(got), nil
			}
		}
		n, err := conn.Read(buf)
		if err != nil {
			return string(got), err
		}
		got = append(got, buf[:n]...)
	}
}
