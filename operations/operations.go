// Package operations is where the hub is administered: accounts, fences,
// rules and API tokens. The HTTP API (dashboard), the admin socket and the command
// line (cmd/geohub) are thin adapters over it, so that they apply the same
// rules (the password policy, vetting fences and rules against the
// accounts) and return the same errors. The rules themselves live with
// what they are about, in devices and geoloc.
package operations

import (
	"errors"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
)

// Service administers the accounts and the geo engine of one hub.
type Service struct {
	Accounts devices.Accounts
	Geo      *geoloc.Store
	Tokens   *Tokens
}

// AddAccounts creates accounts, all or none. A password a person chose
// must follow the policy; an empty one is generated.
func (s *Service) AddAccounts(reqs ...devices.NewAccount) ([]devices.Created, error) {
	for _, r := range reqs {
		if err := devices.CheckPassword(r.Password); err != nil {
			return nil, err
		}
	}
	return s.Accounts.Add(reqs...)
}

// SetPassword replaces an account's password and returns it: the one given,
// which must follow the policy, or a generated one.
func (s *Service) SetPassword(name, password string) (string, error) {
	if err := devices.CheckPassword(password); err != nil {
		return "", err
	}
	return s.Accounts.SetPassword(name, password)
}

// RemoveAccounts removes accounts; the hub forgets what it kept of them.
// It goes on past an account that fails and reports every failure.
func (s *Service) RemoveAccounts(names ...string) error {
	return each(names, s.Accounts.Remove)
}

// AddFences vets new fences against the accounts, then against also when
// it is not nil (an operator's limits), and stores them.
func (s *Service) AddFences(fences []*geoloc.Fence, also func(*geoloc.Fence) error) ([]*geoloc.Fence, error) {
	return s.Geo.AddFences(fences, func(f *geoloc.Fence) error {
		if err := geoloc.VetFence(s.Accounts, f); err != nil {
			return err
		}
		if also != nil {
			return also(f)
		}
		return nil
	})
}

// RemoveFences removes fences by ID, reporting every one that fails.
func (s *Service) RemoveFences(ids ...string) error { return each(ids, s.Geo.RemoveFence) }

// AddRules vets new threshold rules against the accounts and stores them.
func (s *Service) AddRules(rules []*geoloc.Rule) ([]*geoloc.Rule, error) {
	return s.Geo.AddRules(rules, func(r *geoloc.Rule) error { return geoloc.VetRule(s.Accounts, r) })
}

// RemoveRules removes rules by ID, reporting every one that fails.
func (s *Service) RemoveRules(ids ...string) error { return each(ids, s.Geo.RemoveRule) }

// each applies fn to every key and joins the errors.
func each(keys []string, fn func(string) error) error {
	var errs []error
	for _, k := range keys {
		errs = append(errs, fn(k))
	}
	return errors.Join(errs...)
}
