package devices

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestRemoteAccounts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s, db := openStore(t, path) // domain localhost
	created, err := s.Add(NewAccount{Name: "Alice@Company.example", Role: RoleOperator, Groups: []string{"fleet"}})
	if err != nil {
		t.Fatal(err)
	}
	a := created[0]
	if a.Account.Name != "alice@company.example" || a.Password != "" || s.JID(a.Account.Name) != "alice@company.example" {
		t.Errorf("remote account %+v, JID %s", a, s.JID(a.Account.Name))
	}
	if _, ok := s.Credential("alice@company.example"); ok {
		t.Error("a remote account has credentials: it could log in here")
	}
	if _, err := s.SetPassword("alice@company.example", ""); !errors.Is(err, ErrRemote) {
		t.Errorf("password of a remote account: %v", err)
	}
	if _, err := s.Add(NewAccount{Name: "car", Groups: []string{"fleet"}}); err != nil {
		t.Fatal(err)
	}
	if !s.Peers("alice@company.example", "car") {
		t.Error("the remote operator does not see its group's device")
	}
	for _, bad := range []NewAccount{
		{Name: "bob@company.example", Role: RoleDevice},                        // devices connect here
		{Name: "bob@localhost", Role: RoleOperator},                            // this domain: a local name
		{Name: "bob@company.example/phone", Role: RoleOperator},                // not bare
		{Name: "bob@company.example", Role: RoleOperator, Password: "secret1"}, // no password
	} {
		if _, err := s.Add(bad); err == nil {
			t.Errorf("added %+v", bad)
		}
	}
	db.Close()
	s, db = openStore(t, path)
	defer db.Close()
	if got, ok := s.Get("alice@company.example"); !ok || got.Role != RoleOperator {
		t.Errorf("after reopening: %+v %v", got, ok)
	}
	if _, ok := s.Credential("alice@company.example"); ok {
		t.Error("credentials after reopening")
	}
}
