package devices

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestHubNameIsReservedAndRemembered(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s, db := openStore(t, path)
	if s.HubName() != DefaultHubName {
		t.Errorf("hub name %q, want %q", s.HubName(), DefaultHubName)
	}
	for _, name := range []string{"geohub", "GeoHub"} {
		if _, err := s.Add(NewAccount{Name: name, Role: RoleOperator}); !errors.Is(err, ErrReserved) {
			t.Errorf("creating %s: %v, want ErrReserved", name, err)
		}
	}
	// A batch with the reserved name creates nothing.
	if _, err := s.Add(NewAccount{Name: "car"}, NewAccount{Name: "geohub"}); !errors.Is(err, ErrReserved) || s.Exists("car") {
		t.Errorf("batch with the hub's name: %v, car exists: %v", err, s.Exists("car"))
	}
	if _, err := s.Add(NewAccount{Name: "op", Role: RoleOperator}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetHubName("OP"); !errors.Is(err, ErrExists) {
		t.Errorf("hub name of an existing account: %v", err)
	}
	if _, err := s.CheckHubName("bad@name"); err == nil {
		t.Error("hub name with @ accepted")
	}
	if n, err := s.SetHubName("Tracker"); err != nil || n != "tracker" {
		t.Fatalf("SetHubName: %q, %v", n, err)
	}
	// The old name is free again; the new one is reserved.
	if _, err := s.Add(NewAccount{Name: "geohub"}); err != nil {
		t.Errorf("the former hub name: %v", err)
	}
	db.Close()

	// A later open without a name (a command on the data folder) keeps it.
	s, db = openStore(t, path)
	defer db.Close()
	if s.HubName() != "tracker" {
		t.Errorf("hub name after reopening: %q", s.HubName())
	}
	if _, err := s.Add(NewAccount{Name: "tracker"}); !errors.Is(err, ErrReserved) {
		t.Errorf("creating the remembered hub name: %v", err)
	}
	if _, err := s.CheckHubName(""); err != nil {
		t.Errorf("CheckHubName of the current name: %v", err)
	}
	if n, err := s.CheckHubName("geohub"); err == nil {
		t.Errorf("CheckHubName of an account's name: %q", n)
	}
}
