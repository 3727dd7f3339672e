package devices

import (
	"errors"
	"fmt"
	"strings"

	"mellium.im/xmpp/jid"
)

// Remote accounts: an operator whose address is at another server, such as
// alice@company.example, is an account named by that bare JID. It gives the
// JID a role and groups here and has no password: it never logs in here,
// its own server relays it over federation. A remote JID without an
// account has no rights at all.

// IsRemote reports whether name is a remote account's: a bare JID.
func IsRemote(name string) bool { return strings.Contains(name, "@") }

// ErrRemote is a password asked of a remote account.
var ErrRemote = errors.New("a remote account has no password: its own server authenticates it")

// normalizeRemote returns the canonical bare JID naming a remote account
// of role.
func (s *Store) normalizeRemote(name string, role Role) (string, error) {
	j, err := jid.Parse(name)
	if err != nil || j.Localpart() == "" || j.Resourcepart() != "" {
		return "", fmt.Errorf("invalid remote account %q: a bare JID such as alice@example.com", name)
	}
	if j.Domainpart() == s.domain {
		return "", fmt.Errorf("%s is at this hub's domain: name the account %s", name, j.Localpart())
	}
	if !role.Watches() {
		return "", fmt.Errorf("%s: a remote account is an operator or an admin; devices connect here", name)
	}
	return j.String(), nil
}
