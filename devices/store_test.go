package devices

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tidwall/buntdb"
)

func openStore(t *testing.T, path string) (*Store, *buntdb.DB) {
	t.Helper()
	db, err := buntdb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(db, Options{Iterations: 64})
	if err != nil {
		t.Fatal(err)
	}
	return s, db
}

func TestAccountsPersistAndAuthenticate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s, db := openStore(t, path)
	created, err := s.Add(
		NewAccount{Name: "Car-17", Groups: []string{"fleet, berlin"}},
		NewAccount{Name: "op", Role: RoleOperator, Groups: []string{"fleet"}, Password: "secret"},
	)
	if err != nil {
		t.Fatal(err)
	}
	if created[0].Account.Name != "car-17" || len(created[0].Password) < 20 || created[0].Account.Role != RoleDevice {
		t.Errorf("created %+v", created[0])
	}
	if !slices.Equal(created[0].Account.Groups, []string{"berlin", "fleet"}) {
		t.Errorf("groups %v", created[0].Account.Groups)
	}
	if _, err := s.Add(NewAccount{Name: "CAR-17"}); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := s.Add(NewAccount{Name: "bad@name"}); err == nil {
		t.Error("a name with @ was accepted")
	}
	if _, err := s.Add(NewAccount{Name: "x", Role: "god"}); err == nil {
		t.Error("an unknown role was accepted")
	}
	db.Close()

	s, db = openStore(t, path)
	defer db.Close()
	if !s.Authenticate("op", "secret") || s.Authenticate("op", "Secret") || !s.Authenticate("car-17", created[0].Password) {
		t.Error("stored credentials do not match the passwords")
	}
	if got := s.GroupPeers("op"); !slices.Equal(got, []string{"car-17"}) {
		t.Errorf("peers of op: %v", got)
	}
	if got := s.GroupPeers("car-17"); !slices.Equal(got, []string{"op"}) {
		t.Errorf("peers of car-17: %v", got)
	}
	if !s.Peers("op", "car-17") || s.Peers("car-17", "car-17") {
		t.Error("Peers disagrees with GroupPeers")
	}
	pw, err := s.SetPassword("car-17", "")
	if err != nil || !s.Authenticate("car-17", pw) || s.Authenticate("car-17", created[0].Password) {
		t.Errorf("new password: %v", err)
	}
	gen := s.Generation()
	if _, err := s.Update("car-17", func(a *Account) error { a.Groups = []string{"other"}; return nil }); err != nil {
		t.Fatal(err)
	}
	if s.Generation() == gen || len(s.GroupPeers("op")) != 0 {
		t.Error("moving a device out of the group did not change the peers")
	}
	if err := s.Remove("car-17"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Get("car-17"); ok || s.Authenticate("car-17", pw) {
		t.Error("removed account still there")
	}
	if err := s.Remove("car-17"); !errors.Is(err, ErrNotFound) {
		t.Errorf("removing twice: %v", err)
	}
	if got := s.List(Filter{Role: RoleOperator}); len(got) != 1 || got[0].Name != "op" {
		t.Errorf("list operators: %v", got)
	}
}

func TestDomainIsRemembered(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	db, _ := buntdb.Open(path)
	s, err := Open(db, Options{Domain: "fleet.example"})
	if err != nil || s.Domain() != "fleet.example" {
		t.Fatalf("%v %s", err, s.Domain())
	}
	db.Close()
	db, _ = buntdb.Open(path)
	defer db.Close()
	s, _ = Open(db, Options{})
	if s.Domain() != "fleet.example" || s.JID("car") != "car@fleet.example" {
		t.Errorf("domain after reopen: %s", s.Domain())
	}
}

func TestWatchersSeeChanges(t *testing.T) {
	db, _ := buntdb.Open(":memory:")
	defer db.Close()
	s, _ := Open(db, Options{Iterations: 64})
	var kinds []ChangeKind
	s.Watch(func(c Change) { kinds = append(kinds, c.Kind) })
	s.Add(NewAccount{Name: "a"})
	s.Update("a", func(a *Account) error { a.Role = RoleOperator; return nil })
	s.Remove("a")
	if !slices.Equal(kinds, []ChangeKind{Added, Updated, Removed}) {
		t.Errorf("changes %v", kinds)
	}
}

func TestOnlineAndLastSeen(t *testing.T) {
	db, _ := buntdb.Open(":memory:")
	defer db.Close()
	s, _ := Open(db, Options{Iterations: 64})
	s.Add(NewAccount{Name: "a"})
	var heard []string
	s.WatchOnline(func(name string, online bool) { heard = append(heard, fmt.Sprintf("%s %v", name, online)) })
	s.SetOnline("a", true)
	s.SetOnline("a", true)
	s.SetOnline("a", false)
	if !s.Online("a") {
		t.Error("offline with one session left")
	}
	s.SetOnline("a", false)
	if a, _ := s.Get("a"); s.Online("a") || a.LastSeen.IsZero() {
		t.Errorf("after the last session: online %v, last seen %v", s.Online("a"), a.LastSeen)
	}
	s.SetOnline("a", false) // one end too many changes nothing
	if !slices.Equal(heard, []string{"a true", "a false"}) {
		t.Errorf("online watchers heard %v", heard)
	}
}

func TestConcurrentChangesDoNotCorrupt(t *testing.T) {
	db, _ := buntdb.Open(":memory:")
	defer db.Close()
	s, _ := Open(db, Options{Iterations: 64})
	for range 20 {
		s.Add(NewAccount{Name: "car"})
		done := make(chan bool)
		for range 4 {
			go func() {
				s.Remove("car")
				s.SetPassword("car", "x")
				s.Update("car", func(a *Account) error { a.Groups = []string{"g"}; return nil })
				done <- true
			}()
		}
		for range 4 {
			<-done
		}
		if _, ok := s.Get("car"); ok || s.Authenticate("car", "x") {
			t.Fatal("a removed account came back or kept a password")
		}
	}
}

func TestDomainIsNormalized(t *testing.T) {
	db, _ := buntdb.Open(":memory:")
	defer db.Close()
	s, err := Open(db, Options{Domain: "Fleet.Example.COM"})
	if err != nil || s.Domain() != "fleet.example.com" {
		t.Errorf("domain %q, %v", s.Domain(), err)
	}
	if _, err := Open(db, Options{Domain: "a@b"}); err == nil {
		t.Error("a JID was accepted as the domain")
	}
}
