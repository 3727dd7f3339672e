package devices

import (
	"path/filepath"
	"slices"
	"testing"
)

// A new password is heard by the password watchers, once, after it is
// stored, and changes the credential ID, which survives a restart; other
// accounts' IDs stay.
func TestPasswordWatchersAndCredentialID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s, db := openStore(t, path)
	if _, err := s.Add(NewAccount{Name: "car"}, NewAccount{Name: "van"}); err != nil {
		t.Fatal(err)
	}
	car, _ := s.CredentialID("car")
	van, _ := s.CredentialID("van")
	var heard []string
	s.WatchPasswords(func(name string) {
		if !s.Authenticate(name, "new") {
			t.Error("a watcher heard of the new password before it was in force")
		}
		heard = append(heard, name)
	})
	if _, err := s.SetPassword("car", "new"); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(heard, []string{"car"}) {
		t.Errorf("watchers heard %v, want [car]", heard)
	}
	car2, _ := s.CredentialID("car")
	if van2, _ := s.CredentialID("van"); car2 == car || van2 != van || car2 == "" {
		t.Errorf("credential IDs car %q -> %q, van %q -> %q", car, car2, van, van2)
	}
	s.Close()
	db.Close()
	s, db = openStore(t, path)
	defer db.Close()
	defer s.Close()
	if again, _ := s.CredentialID("car"); again != car2 {
		t.Errorf("credential ID after a restart %q, want %q", again, car2)
	}
	if _, ok := s.CredentialID("nobody"); ok {
		t.Error("an unknown account has a credential ID")
	}
}
