package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	firmwaresim "github.com/geohub/geohub/firmware-sim"
	"github.com/geohub/geohub/internal/xmlesc"
	"mellium.im/sasl"
)

// The lean fleet (--lean) publishes from pre-built stanzas over raw
// connections: no movement simulation, no XML decoding, no stream
// management. The load generator shares the hub's two cores, so the less
// it spends per publish, the less it disturbs what the hub is measured at.

// leanLogin logs acct in: STARTTLS, SCRAM-SHA-256, resource binding. The
// connection's deadline is the hub's timeout.
func leanLogin(ctx context.Context, hub firmwaresim.Hub, acct firmwaresim.Account) (net.Conn, error) {
	name, domain, _ := strings.Cut(acct.JID, "@")
	cfg := hub.TLS.Clone()
	cfg.ServerName = domain
	var from *net.TCPAddr
	if hub.Source != nil {
		from = hub.Source(name)
	}
	c, err := startTLS(ctx, hub.Addr, cfg, from)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (net.Conn, error) {
		c.Close()
		return nil, fmt.Errorf("login %s: %w", acct.JID, err)
	}
	c.SetDeadline(time.Now().Add(hub.Timeout))
	client := sasl.NewClient(sasl.ScramSha256, sasl.Credentials(func() ([]byte, []byte, []byte) {
		return []byte(name), []byte(acct.Password), nil
	}))
	const ns = " xmlns='urn:ietf:params:xml:ns:xmpp-sasl'"
	b64 := base64.StdEncoding.EncodeToString
	_, first, err := client.Step(nil)
	if err != nil {
		return fail(err)
	}
	if _, err := c.Write([]byte(streamHeader + "<auth" + ns + " mechanism='SCRAM-SHA-256'>" + b64(first) + "</auth>")); err != nil {
		return fail(err)
	}
	got, err := readUntil(c, "</challenge>", "</failure>", "</stream:stream>")
	if err != nil || !strings.Contains(got, "</challenge>") {
		return fail(errors.Join(err, errors.New(got)))
	}
	challenge, err := base64.StdEncoding.DecodeString(between(got, ">", "</challenge>"))
	if err != nil {
		return fail(err)
	}
	_, final, err := client.Step(challenge)
	if err != nil {
		return fail(err)
	}
	if _, err := c.Write([]byte("<response" + ns + ">" + b64(final) + "</response>")); err != nil {
		return fail(err)
	}
	if got, err := readUntil(c, "</success>", "</failure>", "</stream:stream>"); err != nil || !strings.Contains(got, "</success>") {
		return fail(errors.Join(err, errors.New(got)))
	}
	bind := "<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>lean</resource></bind></iq>"
	if _, err := c.Write([]byte(streamHeader + bind)); err != nil {
		return fail(err)
	}
	if got, err := readUntil(c, "</iq>"); err != nil || attr([]byte(got[strings.LastIndex(got, "<iq"):]), "type") != "result" {
		return fail(errors.Join(err, errors.New(got)))
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// leanDevice is one device of the lean fleet: a connection and the fixed
// parts of its publishes.
type leanDevice struct {
	acct   firmwaresim.Account
	conn   net.Conn
	prefix []byte // up to the item ID
	buf    []byte // what was read and not yet taken
	lat    float64
}

func newLeanDevice(acct firmwaresim.Account, conn net.Conn, target firmwaresim.Target, i int) *leanDevice {
	p := []byte("<iq type='set' id='p'")
	if target.Service != "" {
		p = xmlesc.Attr(p, "to", target.Service)
	}
	p = append(p, "><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish"...)
	p = xmlesc.Attr(p, "node", target.Node)
	p = append(p, "><item id='"...)
	p = append(p, acct.Name()...)
	// Devices start spread over a degree of latitude and move north.
	return &leanDevice{acct: acct, conn: conn, prefix: p, lat: 45 + float64(i%1000)/1000}
}

// publish sends one fix, taken now 10 m north of the last, with an item
// ID the subscriber reads its send time from (firmwaresim.ItemSentAt), and
// waits for the hub's answer: nil, or the error of a refusal or of the
// connection.
func (d *leanDevice) publish(out []byte, timeout time.Duration) ([]byte, error) {
	now := time.Now()
	d.lat += 0.0001
	b := append(out[:0], d.prefix...)
	b = append(b, '-')
	b = strconv.AppendInt(b, now.UnixNano(), 10)
	b = append(b, "'><geoloc xmlns='http://jabber.org/protocol/geoloc'><lat>"...)
	b = strconv.AppendFloat(b, d.lat, 'f', 6, 64)
	b = append(b, "</lat><lon>7.5</lon><speed>10</speed><bearing>0</bearing><accuracy>5</accuracy><timestamp>"...)
	b = now.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, "</timestamp></geoloc></item></publish></pubsub></iq>"...)
	d.conn.SetDeadline(now.Add(timeout))
	if _, err := d.conn.Write(b); err != nil {
		return b, err
	}
	for {
		iq, err := d.nextIQ()
		if err != nil {
			return b, err
		}
		switch attr(iq, "type") {
		case "result":
			return b, nil
		case "error":
			return b, errors.New(string(iq))
		case "get":
			// A ping: answer it and keep waiting.
			reply := xmlesc.Attr([]byte("<iq type='result'"), "id", attr(iq, "id"))
			if _, err := d.conn.Write(append(reply, "/>"...)); err != nil {
				return b, err
			}
		}
	}
}

// nextIQ reads until a whole <iq/> from the hub is buffered and returns
// it. Only IQs come to a device that sent no presence.
func (d *leanDevice) nextIQ() ([]byte, error) {
	var chunk [4096]byte
	for {
		if start := bytes.Index(d.buf, []byte("<iq")); start >= 0 {
			rest := d.buf[start:]
			gt := bytes.IndexByte(rest, '>')
			end := -1
			switch {
			case gt > 0 && rest[gt-1] == '/':
				end = gt + 1
			case gt > 0:
				if i := bytes.Index(rest, []byte("</iq>")); i >= 0 {
					end = i + len("</iq>")
				}
			}
			if end > 0 {
				iq := append([]byte(nil), rest[:end]...)
				d.buf = append(d.buf[:0], rest[end:]...)
				return iq, nil
			}
		}
		n, err := d.conn.Read(chunk[:])
		if err != nil {
			return nil, err
		}
		d.buf = append(d.buf, chunk[:n]...)
	}
}

// attr is the value of the attribute name in the start tag el begins
// with, quoted either way, unescaped only as far as the bench needs (IDs
// and types have no entities).
func attr(el []byte, name string) string {
	tag, _, _ := bytes.Cut(el, []byte(">"))
	for _, q := range []string{"'", `"`} {
		if i := bytes.Index(tag, []byte(" "+name+"="+q)); i >= 0 {
			v := tag[i+len(name)+3:]
			if j := bytes.Index(v, []byte(q)); j >= 0 {
				return string(v[:j])
			}
		}
	}
	return ""
}

// runLean logs accounts in (at most rate a second), holds every device
// until hold is closed, then publishes from each: at an even share of
// fleetRate with ±50% jitter, or back to back when fleetRate is 0. It
// returns when ctx ends.
func runLean(ctx context.Context, hub firmwaresim.Hub, target firmwaresim.Target, accounts []firmwaresim.Account,
	loginRate, fleetRate float64, stats *firmwaresim.Stats, hold <-chan struct{}, acked func(firmwaresim.Account, firmwaresim.Fix)) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(time.Duration(float64(time.Second) / loginRate))
	defer tick.Stop()
	for i, acct := range accounts {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		wg.Go(func() {
			stats.Connecting()
			start := time.Now()
			conn, err := leanLogin(ctx, hub, acct)
			if err != nil {
				stats.Error("login")
				return
			}
			defer conn.Close()
			stop := context.AfterFunc(ctx, func() { conn.Close() })
			defer stop()
			stats.LoginTook(time.Since(start))
			stats.Connected()
			defer stats.Disconnected()
			select {
			case <-ctx.Done():
				return
			case <-hold:
			}
			leanLoop(ctx, newLeanDevice(acct, conn, target, i), hub.Timeout, fleetRate, len(accounts), stats, acked)
		})
	}
	<-ctx.Done()
	return nil
}

// leanLoop publishes from d until ctx ends or its connection fails.
func leanLoop(ctx context.Context, d *leanDevice, timeout time.Duration, fleetRate float64, devices int,
	stats *firmwaresim.Stats, acked func(firmwaresim.Account, firmwaresim.Fix)) {
	var interval time.Duration
	if fleetRate > 0 {
		interval = time.Duration(float64(devices) / fleetRate * float64(time.Second))
	}
	rng := rand.New(rand.NewPCG(rand.Uint64(), 0))
	next := time.Now()
	if interval > 0 {
		// Devices start at random points of their period.
		next = next.Add(time.Duration(rng.Int64N(int64(interval))))
	}
	var out []byte
	for ctx.Err() == nil {
		if wait := time.Until(next); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		sent := time.Now()
		stats.Sent()
		var err error
		out, err = d.publish(out, timeout)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && isConnErr(err):
			stats.Error("stream")
			return
		case err != nil:
			stats.Refused(false)
		default:
			stats.Acked(time.Since(sent))
			if acked != nil {
				acked(d.acct, firmwaresim.Fix{Time: sent})
			}
		}
		if interval > 0 {
			// ±50% jitter around the device's share of the fleet's rate.
			next = next.Add(interval/2 + time.Duration(rng.Int64N(int64(interval))))
			if time.Until(next) < -interval {
				next = time.Now() // fell behind: do not burst to catch up
			}
		}
	}
}

// isConnErr tells a connection's failure from a refusal (an <iq/> error).
func isConnErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "EOF")
}
