package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/geohub/geohub/internal/peers"
)

// componentDomain is where the component bench's devices publish.
const componentDomain = "geo.localhost"

// componentServer is GeoHub attached to a private Prosody as its XEP-0114
// component: the devices and the subscriber log into Prosody and publish
// to geo.localhost, which Prosody relays to GeoHub over one component
// connection. The measured process is GeoHub; Prosody's CPU is reported
// apart (its TLS and routing are part of the deployment's cost).
type componentServer struct {
	*geohubServer
	prosody *peers.Prosody
}

func startComponent(ctx context.Context, bin string, n int, progress func(string)) (_ *componentServer, err error) {
	secret := randomPassword()
	p, err := peers.RunProsody(peers.ProsodyOptions{Components: map[string]string{componentDomain: secret}, Global: prosodySettings})
	if err != nil {
		return nil, err
	}
	s := &componentServer{prosody: p}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	secretFile := filepath.Join(p.Dir, "component-secret")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		return nil, err
	}
	if s.geohubServer, err = startGeoHub(ctx, bin, n, progress, "--c2s", "", "--component", componentDomain,
		"--upstream", p.ComponentAddr, "--component-secret-file", secretFile); err != nil {
		return nil, err
	}
	// The same accounts on Prosody, with the passwords GeoHub made (which
	// GeoHub itself does not use in this mode).
	progress(fmt.Sprintf("registering %d devices on Prosody (prosodyctl shell)", n))
	users := map[string]string{}
	for _, a := range append(s.accounts(), s.subscriber()) {
		name, _, _ := strings.Cut(a.JID, "@")
		users[name] = a.Password
	}
	if err := p.Register(users); err != nil {
		return nil, err
	}
	return s, s.waitLinked(ctx)
}

// waitLinked polls GeoHub's /readyz until the component link is up.
func (s *componentServer) waitLinked(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get("http://" + s.httpAddr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return errors.New("the component link did not come up within 30s")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *componentServer) addr() string    { return s.prosody.Addr }
func (s *componentServer) cert() string    { return s.prosody.CertFile }
func (s *componentServer) service() string { return componentDomain }

func (s *componentServer) logTail() string {
	out := tail(s.prosody.Output()+s.prosody.Log(), 10)
	if s.geohubServer != nil {
		out = s.geohubServer.logTail() + "\n" + out
	}
	return out
}

func (s *componentServer) stop() error {
	var err error
	if s.geohubServer != nil {
		err = s.geohubServer.stop()
	}
	return errors.Join(err, s.prosody.Stop())
}
