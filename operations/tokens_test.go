package operations

import (
	"errors"
	"testing"

	"github.com/geohub/geohub/devices"
)

// The token calls both adapters make (the HTTP API and the admin socket)
// refuse with the errors they map: a missing account, a second token of
// one name, a token that does not exist; a device gets none.
func TestTokenOperations(t *testing.T) {
	s := open(t)
	if _, err := s.AddAccounts(devices.NewAccount{Name: "alice", Role: devices.RoleOperator}, devices.NewAccount{Name: "car"}); err != nil {
		t.Fatal(err)
	}
	tok, err := s.AddToken("backup", "alice")
	if err != nil || tok.Account != "alice" || tok.Name != "backup" || tok.Secret == "" {
		t.Fatalf("AddToken: %+v %v", tok, err)
	}
	if a, id, ok := s.Tokens.Authenticate(tok.Secret); !ok || a.Name != "alice" || id != tok.ID {
		t.Errorf("Authenticate: %v %q %v", a.Name, id, ok)
	}
	if _, err := s.AddToken("backup", "alice"); !errors.Is(err, ErrTokenExists) {
		t.Errorf("a second token of one name: %v, want ErrTokenExists", err)
	}
	if _, err := s.AddToken("x", "nobody"); !errors.Is(err, devices.ErrNotFound) {
		t.Errorf("a token for a missing account: %v, want ErrNotFound", err)
	}
	if _, err := s.AddToken("x", "car"); err == nil {
		t.Error("a device was given a token")
	}
	if l := s.ListTokens(); len(l) != 1 || l[0].ID != tok.ID {
		t.Errorf("ListTokens: %+v", l)
	}
	if err := s.RevokeTokens(tok.ID, "tnone"); !errors.Is(err, ErrNoToken) {
		t.Errorf("revoking a missing token: %v, want ErrNoToken", err)
	}
	if _, _, ok := s.Tokens.Authenticate(tok.Secret); ok || s.Tokens.Valid(tok.ID) || len(s.ListTokens()) != 0 {
		t.Error("a revoked token still works")
	}

	tok, _ = s.AddToken("again", "alice")
	if err := s.RemoveAccounts("alice"); err != nil {
		t.Fatal(err)
	}
	if s.Tokens.Valid(tok.ID) || len(s.ListTokens()) != 0 {
		t.Error("removing the account left its token")
	}
}
