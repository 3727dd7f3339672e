package devices

import (
	"crypto/sha256"
	"encoding/hex"
)

// WatchPasswords registers fn to hear that the password of the account
// name was changed (SetPassword), after the change is committed, so that
// what was logged in with the old one can be ended. fn runs on the
// goroutine that made the change and must not call back into Store
// methods that write.
func (s *Store) WatchPasswords(fn func(name string)) {
	s.mu.Lock()
	s.passwordWatch = append(s.passwordWatch, fn)
	s.mu.Unlock()
}

// CredentialID names the current credentials of the account name: it
// changes with every new password (each gets a fresh salt) and reveals
// nothing of them. A login that remembers it can tell that the password
// changed since, even across restarts and changes made while the hub was
// not running.
func (s *Store) CredentialID(name string) (string, bool) {
	c, ok := s.Credential(name)
	if !ok {
		return "", false
	}
	h := sha256.Sum256(append([]byte("geohub credential id\x00"), c.Salt...))
	return hex.EncodeToString(h[:16]), true
}
