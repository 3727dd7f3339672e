package scram

import (
	"errors"
	"testing"

	"mellium.im/sasl"
)

// exchange runs a client negotiator against a server one and returns the
// server's error, if any.
func exchange(t *testing.T, client, server *sasl.Negotiator) error {
	t.Helper()
	more, resp, err := client.Step(nil)
	if err != nil {
		t.Fatalf("client start: %v", err)
	}
	for {
		smore, challenge, err := server.Step(resp)
		if err != nil {
			return err
		}
		if !more && !smore {
			return nil
		}
		more, resp, err = client.Step(challenge)
		if err != nil {
			t.Fatalf("client step: %v", err)
		}
		if !smore {
			return nil
		}
	}
}

func creds(user, password string) sasl.Option {
	return sasl.Credentials(func() ([]byte, []byte, []byte) { return []byte(user), []byte(password), nil })
}

func TestServerAgainstMelliumClient(t *testing.T) {
	cred := NewCredential("s3cret,=pw", 4096)
	lookup := func(u string) (Credential, bool) { return cred, u == "car,17" }
	for _, tc := range []struct {
		h      Hash
		client sasl.Mechanism
	}{{SHA1, sasl.ScramSha1}, {SHA256, sasl.ScramSha256}} {
		for _, pw := range []string{"s3cret,=pw", "wrong"} {
			var gotUser string
			var gotOK bool
			server := sasl.NewServer(ServerMechanism(tc.h, lookup, func(u string, ok bool) bool { gotUser, gotOK = u, ok; return ok }, 4096), nil)
			err := exchange(t, sasl.NewClient(tc.client, creds("car,17", pw)), server)
			wantOK := pw == "s3cret,=pw"
			if wantOK && err != nil {
				t.Errorf("%s: right password refused: %v", tc.h.Mechanism, err)
			}
			if !wantOK && !errors.Is(err, sasl.ErrAuthn) {
				t.Errorf("%s: wrong password: got %v, want ErrAuthn", tc.h.Mechanism, err)
			}
			if gotUser != "car,17" || gotOK != wantOK {
				t.Errorf("%s: result(%q, %v), want (car,17, %v)", tc.h.Mechanism, gotUser, gotOK, wantOK)
			}
		}
	}
}

func TestUnknownUserLooksLikeWrongPassword(t *testing.T) {
	lookup := func(string) (Credential, bool) { return Credential{}, false }
	server := sasl.NewServer(ServerMechanism(SHA256, lookup, nil, 4096), nil)
	_, first, _ := sasl.NewClient(sasl.ScramSha256, creds("ghost", "x")).Step(nil)
	_, challenge, err := server.Step(first)
	if err != nil {
		t.Fatalf("unknown user refused early: %v", err)
	}
	if len(challenge) == 0 {
		t.Fatal("no server-first-message")
	}
	// The salt is stable per name, as a real account's would be.
	server2 := sasl.NewServer(ServerMechanism(SHA256, lookup, nil, 4096), nil)
	_, challenge2, _ := server2.Step(first)
	if salt(challenge) != salt(challenge2) {
		t.Error("made-up salt changes between attempts")
	}
}

func salt(msg []byte) string {
	for _, f := range splitComma(msg) {
		if len(f) > 2 && f[:2] == "s=" {
			return f
		}
	}
	return ""
}

func splitComma(b []byte) []string {
	var out []string
	start := 0
	for i, c := range b {
		if c == ',' {
			out = append(out, string(b[start:i]))
			start = i + 1
		}
	}
	return append(out, string(b[start:]))
}

func TestClientAgainstMelliumServer(t *testing.T) {
	cred := NewCredential("pw", 4096)
	cache := &SaltCache{}
	for i := 0; i < 2; i++ {
		server := sasl.NewServer(sasl.ScramSha256, nil, sasl.SaltedCredentials(
			func(user, _ []byte, _ string) ([]byte, []byte, int64, error) {
				return cred.Salt, SaltPassword(SHA256, "pw", cred.Salt, cred.Iterations), int64(cred.Iterations), nil
			}))
		if err := exchange(t, sasl.NewClient(ClientMechanism(SHA256, cache), creds("u", "pw")), server); err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
}

func TestMalformedClientMessages(t *testing.T) {
	cred := NewCredential("pw", 4096)
	lookup := func(string) (Credential, bool) { return cred, true }
	for _, msg := range []string{"x", "n,,", "n,,n=u", "q,,n=u,r=abc", "n,,n=u=ZZ,r=abc", "n,,m=x,n=u,r=a", "n,,n=u,r="} {
		server := sasl.NewServer(ServerMechanism(SHA256, lookup, nil, 4096), nil)
		if _, _, err := server.Step([]byte(msg)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: got %v, want ErrMalformed", msg, err)
		}
	}
	// Asking for channel binding, which is never offered, is refused.
	server := sasl.NewServer(ServerMechanism(SHA256, lookup, nil, 4096), nil)
	if _, _, err := server.Step([]byte("p=tls-exporter,,n=u,r=abc")); !errors.Is(err, sasl.ErrAuthn) {
		t.Errorf("channel binding: got %v", err)
	}
	// A final message with a bad proof encoding.
	server = sasl.NewServer(ServerMechanism(SHA256, lookup, nil, 4096), nil)
	_, first, _ := server.Step([]byte("n,,n=u,r=abc"))
	nonce := splitComma(first)[0][2:]
	if _, _, err := server.Step([]byte("c=biws,r=" + nonce + ",p=!!")); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad proof encoding: got %v", err)
	}
}

func TestVerify(t *testing.T) {
	c := NewCredential("correct horse", 0)
	if !c.Verify("correct horse") || c.Verify("battery staple") {
		t.Fatal("Verify disagrees with the password")
	}
}
