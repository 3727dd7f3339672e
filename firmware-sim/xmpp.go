package firmwaresim

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/ping"
	"mellium.im/xmpp/stanza"
)

// Hub says where the hub is and how to reach it.
type Hub struct {
	Addr      string      // host:port of the client listener
	TLS       *tls.Config // trusts the hub's certificate; ServerName is set per JID when empty
	DirectTLS bool        // XEP-0368 direct TLS instead of STARTTLS
	Timeout   time.Duration
	// Source, when set, gives the local address an account connects
	// from (nil: the system's choice), so that a simulated fleet can come
	// from many addresses as a real one does.
	Source func(account string) *net.TCPAddr
}

func (h Hub) dialer(account string) *net.Dialer {
	d := &net.Dialer{}
	if h.Source != nil {
		if a := h.Source(account); a != nil {
			d.LocalAddr = a
		}
	}
	return d
}

func (h Hub) timeout() time.Duration {
	if h.Timeout <= 0 {
		return 30 * time.Second
	}
	return h.Timeout
}

// session is a subscriber's XMPP session (devices: xmpp_sm.go): mellium negotiates STARTTLS,
// SCRAM-SHA-256 and the resource, then serves the stream, answering pings.
type session struct {
	s      *xmpp.Session
	conn   net.Conn
	served chan error // what ended Serve
}

// dialXMPP logs acct in.
func dialXMPP(ctx context.Context, hub Hub, acct Account, resource string, handlers ...mux.Option) (*session, error) {
	j, err := jid.Parse(acct.JID)
	if err != nil {
		return nil, fmt.Errorf("account %q: %w", acct.JID, err)
	}
	if resource != "" {
		if j, err = j.WithResource(resource); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, hub.timeout())
	defer cancel()
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if hub.TLS != nil {
		cfg = hub.TLS.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = j.Domain().String()
	}
	d := hub.dialer(acct.JID)
	var conn net.Conn
	features := []xmpp.StreamFeature{
		xmpp.SASL("", acct.Password, sasl.ScramSha256, sasl.ScramSha1),
		xmpp.BindResource(),
	}
	if hub.DirectTLS {
		cfg.NextProtos = []string{"xmpp-client"}
		conn, err = (&tls.Dialer{NetDialer: d, Config: cfg}).DialContext(ctx, "tcp", hub.Addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", hub.Addr)
		features = append([]xmpp.StreamFeature{xmpp.StartTLS(cfg)}, features...)
	}
	if err != nil {
		return nil, &Failure{Kind: "dial", Err: err}
	}
	// mellium stops at the context only between reads: a deadline on the
	// connection also ends a read the hub never answers.
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	s, err := xmpp.NewClientSession(ctx, j, conn, features...)
	if err != nil {
		conn.Close()
		return nil, &Failure{Kind: loginFailure(err), Err: err}
	}
	conn.SetDeadline(time.Time{})
	ss := &session{s: s, conn: conn, served: make(chan error, 1)}
	m := mux.New(stanza.NSClient, append([]mux.Option{ping.Handle()}, handlers...)...)
	go func() { ss.served <- s.Serve(m) }()
	return ss, nil
}

func loginFailure(err error) string {
	var se stanza.Error
	switch {
	case errors.As(err, &se):
		return "login"
	case bytes.Contains([]byte(err.Error()), []byte("not-authorized")):
		return "auth"
	}
	return "login"
}

// send writes a stanza that expects no answer (presence).
func (ss *session) send(ctx context.Context, raw string) error {
	return ss.s.Send(ctx, xml.NewDecoder(bytes.NewReader([]byte(raw))))
}

// close ends the stream politely.
func (ss *session) close() {
	ss.s.Close()
	ss.conn.Close()
}

// Refusal is a publish the hub answered with an error.
type Refusal struct{ Condition, Text string }

func (r *Refusal) Error() string { return "refused: " + r.Condition + " " + r.Text }

// Failure is a connection that failed: Kind is how, for the error counts.
type Failure struct {
	Kind string
	Err  error
}

func (f *Failure) Error() string { return f.Kind + ": " + f.Err.Error() }
func (f *Failure) Unwrap() error { return f.Err }
