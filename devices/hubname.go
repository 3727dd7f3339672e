package devices

import (
	"errors"
	"fmt"

	"github.com/tidwall/buntdb"
)

// The hub's own JID, <hub name>@<domain>, sends alerts and answers chat
// commands. It is not an account, but its name is reserved here, so that
// no device or operator can be created under it, whether the hub runs or
// a command works on the data folder directly. The name is remembered in
// the data folder, as the domain is.

// DefaultHubName is the localpart of the hub's own JID unless configured.
const DefaultHubName = "geohub"

const hubNameKey = "meta:hubname"

// ErrReserved is returned for an account name that is the hub's own.
var ErrReserved = errors.New("name reserved for the hub's own JID")

// loadHubName reads the stored hub name, else the default. Called by Open.
func (s *Store) loadHubName(tx *buntdb.Tx) error {
	v, err := tx.Get(hubNameKey)
	switch {
	case err == buntdb.ErrNotFound:
		s.hubName = DefaultHubName
	case err != nil:
		return err
	default:
		s.hubName = v
	}
	return nil
}

// HubName is the reserved localpart of the hub's own JID.
func (s *Store) HubName() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.hubName
}

// CheckHubName returns name normalized, or the current hub name when name
// is empty, and an error when it is not a valid localpart or an account
// holds it.
func (s *Store) CheckHubName(name string) (string, error) {
	if name == "" {
		name = s.HubName()
	}
	n, err := NormalizeName(name)
	if err != nil {
		return "", err
	}
	if s.Exists(n) {
		return "", fmt.Errorf("the hub's JID %s is taken by an account of that name: remove the account or give the hub another name: %w", s.JID(n), ErrExists)
	}
	return n, nil
}

// SetHubName reserves name (empty: the current one) for the hub's own JID
// and remembers it; see CheckHubName for the errors. It returns the name
// normalized.
func (s *Store) SetHubName(name string) (string, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	n, err := s.CheckHubName(name)
	if err != nil {
		return "", err
	}
	err = s.db.Update(func(tx *buntdb.Tx) error {
		_, _, err := tx.Set(hubNameKey, n, nil)
		return err
	})
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	s.hubName = n
	s.mu.Unlock()
	return n, nil
}
