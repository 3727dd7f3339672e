package hub_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/xmpptest"
)

// readSASLAnswer reads the hub's next SASL element.
func readSASLAnswer(r *xmpptest.Raw) string {
	var out string
	for !strings.Contains(out, "</success>") && !strings.Contains(out, "</failure>") && !strings.Contains(out, "</challenge>") {
		out += r.ReadUntil(">")
	}
	return out
}

// TestEmptyPlainResponseGetsSASLFailure: an empty PLAIN response, with or
// without the "=" of RFC 6120 §6.4.2, must not end the stream; the client
// is asked for its response or told it is malformed, and may log in after.
func TestEmptyPlainResponseGetsSASLFailure(t *testing.T) {
	h := hubtest.Start(t)
	pw := h.Account(t, "car", devices.RoleDevice)
	for _, auth := range []string{
		"<auth xmlns='" + nsSASL + "' mechanism='PLAIN'>=</auth>",
		"<auth xmlns='" + nsSASL + "' mechanism='PLAIN'/>",
	} {
		r := xmpptest.DialRaw(t, h.Addr)
		r.StartTLS("localhost", h.ClientTLS)
		r.Send(auth)
		got := readSASLAnswer(r)
		if strings.Contains(got, "<challenge") {
			// Asked for the response: an empty one is malformed.
			r.Send("<response xmlns='" + nsSASL + "'>=</response>")
			got = readSASLAnswer(r)
		}
		if !strings.Contains(got, "<malformed-request") {
			t.Errorf("%s: got %q, want a malformed-request failure", auth, got)
			continue
		}
		if got := r.AuthPlain("car", pw); !strings.Contains(got, "<success") {
			t.Errorf("%s: the retry with the right password: %q", auth, got)
		}
	}
}

// TestPlainWithoutInitialResponse: a client that sends no initial response
// gets an empty challenge and logs in with its response.
func TestPlainWithoutInitialResponse(t *testing.T) {
	h := hubtest.Start(t)
	pw := h.Account(t, "car", devices.RoleDevice)
	r := xmpptest.DialRaw(t, h.Addr)
	r.StartTLS("localhost", h.ClientTLS)
	r.Send("<auth xmlns='" + nsSASL + "' mechanism='PLAIN'/>")
	if got := readSASLAnswer(r); !strings.Contains(got, ">=</challenge>") {
		t.Fatalf("got %q, want an empty challenge", got)
	}
	r.Send("<response xmlns='" + nsSASL + "'>" + base64.StdEncoding.EncodeToString([]byte("\x00car\x00"+pw)) + "</response>")
	if got := readSASLAnswer(r); !strings.Contains(got, "<success") {
		t.Errorf("got %q", got)
	}
}

// TestPlainAuthzidMustBeOwnBareJID: an authorization identity on another
// domain, or another account, is refused with invalid-authzid, even with
// the right password; the account's own bare JID is accepted.
func TestPlainAuthzidMustBeOwnBareJID(t *testing.T) {
	h := hubtest.Start(t)
	pw := h.Account(t, "alice", devices.RoleOperator)
	r := xmpptest.DialRaw(t, h.Addr)
	r.StartTLS("localhost", h.ClientTLS)
	plain := func(authzid string) string {
		r.Send("<auth xmlns='" + nsSASL + "' mechanism='PLAIN'>" +
			base64.StdEncoding.EncodeToString([]byte(authzid+"\x00alice\x00"+pw)) + "</auth>")
		return readSASLAnswer(r)
	}
	for _, z := range []string{"alice@otherdomain", "bob@localhost"} {
		if got := plain(z); !strings.Contains(got, "<invalid-authzid") {
			t.Errorf("authzid %s: got %q, want invalid-authzid", z, got)
		}
	}
	if got := plain("alice@localhost"); !strings.Contains(got, "<success") {
		t.Errorf("authzid alice@localhost: got %q", got)
	}
}
