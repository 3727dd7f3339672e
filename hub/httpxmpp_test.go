package hub_test

// Helpers the XMPP-over-HTTP tests (BOSH and WebSocket) share.

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/geohub/geohub/internal/xmpptest"
	"mellium.im/sasl"
)

// httpServe serves handler at path on a loopback port, over TLS when
// secure, wrapped by wrap when given; the server closes when the test
// ends.
func httpServe(t testing.TB, path string, handler http.Handler, secure bool, wrap ...func(http.Handler) http.Handler) *httptest.Server {
	t.Helper()
	for _, w := range wrap {
		handler = w(handler)
	}
	mux := http.NewServeMux()
	mux.Handle(path, handler)
	var srv *httptest.Server
	if secure {
		srv = httptest.NewTLSServer(mux)
	} else {
		srv = httptest.NewServer(mux)
	}
	t.Cleanup(srv.Close)
	return srv
}

// saslSCRAM authenticates with mech (a SCRAM client) as user and returns
// the last SASL element the hub sent (success or failure). exchange sends
// one SASL element and returns the hub's answer and its text.
func saslSCRAM(t testing.TB, mech sasl.Mechanism, user, password string, exchange func(payload string) (*xmpptest.Node, string)) *xmpptest.Node {
	t.Helper()
	c := sasl.NewClient(mech, sasl.Credentials(func() ([]byte, []byte, []byte) {
		return []byte(user), []byte(password), nil
	}))
	_, resp, err := c.Step(nil)
	if err != nil {
		t.Fatal(err)
	}
	payload := fmt.Sprintf(`<auth xmlns='%s' mechanism='SCRAM-SHA-256'>%s</auth>`, nsSASL, base64.StdEncoding.EncodeToString(resp))
	for {
		n, raw := exchange(payload)
		if n.XMLName.Space != nsSASL {
			t.Fatalf("during SASL: %s", raw)
		}
		data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(n.Text))
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		switch n.XMLName.Local {
		case "challenge":
			if _, resp, err = c.Step(data); err != nil {
				t.Fatalf("challenge %s: %v", raw, err)
			}
			payload = fmt.Sprintf(`<response xmlns='%s'>%s</response>`, nsSASL, base64.StdEncoding.EncodeToString(resp))
		case "success":
			if _, _, err := c.Step(data); err != nil {
				t.Fatalf("the hub's SCRAM signature does not verify: %v", err)
			}
			return n
		default:
			return n
		}
	}
}

// checkPlainHTTPFeatures checks the features of a stream over plain HTTP
// (scheme http:// or ws://): SCRAM only, as PLAIN needs TLS, and no
// STARTTLS, as TLS is the HTTP layer's (RFC 7395 §3.7 for WebSocket).
func checkPlainHTTPFeatures(t *testing.T, f *xmpptest.Node, scheme string) {
	t.Helper()
	if got := mechanisms(f); strings.Join(got, ",") != "SCRAM-SHA-256,SCRAM-SHA-1" {
		t.Errorf("mechanisms over plain %s %v, want SCRAM only: PLAIN needs TLS", scheme, got)
	}
	if f.Child("urn:ietf:params:xml:ns:xmpp-tls", "starttls") != nil {
		t.Errorf("features %s offer STARTTLS over %s: TLS is the HTTP layer's", f, scheme)
	}
}
