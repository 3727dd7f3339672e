package operations

import (
	"errors"
	"strings"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
	"github.com/tidwall/buntdb"
)

func open(t *testing.T) *Service {
	t.Helper()
	db, err := buntdb.Open(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	accounts, err := devices.Open(db, devices.Options{Domain: "example.net"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { accounts.Close() })
	geo, err := geoloc.OpenStore(db, geoloc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := OpenTokens(db, accounts)
	if err != nil {
		t.Fatal(err)
	}
	return &Service{Accounts: accounts, Geo: geo, Tokens: tokens}
}

func TestPasswordPolicy(t *testing.T) {
	s := open(t)
	if _, err := s.AddAccounts(devices.NewAccount{Name: "car", Password: "x"}); !errors.Is(err, devices.ErrPassword) {
		t.Errorf("a one-character password: %v, want ErrPassword", err)
	}
	if s.Accounts.Exists("car") {
		t.Error("the account was made anyway")
	}
	if _, err := s.AddAccounts(devices.NewAccount{Name: "car"}, devices.NewAccount{Name: "van", Password: "long enough"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetPassword("van", "short"); !errors.Is(err, devices.ErrPassword) {
		t.Errorf("setting a short password: %v, want ErrPassword", err)
	}
	if !s.Accounts.Authenticate("van", "long enough") {
		t.Error("the refused password replaced the old one")
	}
}

func TestFencesAndRulesAreVetted(t *testing.T) {
	s := open(t)
	if _, err := s.AddAccounts(devices.NewAccount{Name: "car"}, devices.NewAccount{Name: "op", Role: devices.RoleOperator}); err != nil {
		t.Fatal(err)
	}
	fences, err := geoloc.ParseFences([]byte(`{"type":"Feature","properties":{"name":"Depot","notify":["car"]},
		"geometry":{"type":"Polygon","coordinates":[[[13,52],[14,52],[14,53],[13,52]]]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err = s.AddFences(fences, nil); err == nil || !strings.Contains(err.Error(), "notify: car is a device account") {
		t.Errorf("a fence notifying a device: %v", err)
	}
	below := 5.0
	_, err = s.AddRules([]*geoloc.Rule{{Name: "cold", Sensor: "temp", Below: &below, Devices: []string{"op"}}})
	if err == nil {
		t.Error("a rule watching an operator was stored")
	}
	rules, err := s.AddRules([]*geoloc.Rule{{Name: "cold", Sensor: "temp", Below: &below, Devices: []string{"car"}, Notify: []string{"op"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := rules[0].Devices; len(got) != 1 || got[0] != "car@example.net" {
		t.Errorf("devices %v, want the bare JID", got)
	}
	if err := s.RemoveRules(rules[0].ID, "r-nope"); !errors.Is(err, geoloc.ErrNoRule) || len(s.Geo.Rules()) != 0 {
		t.Errorf("remove: %v, rules left %v", err, s.Geo.Rules())
	}
}
