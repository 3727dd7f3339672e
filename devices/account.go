// Package devices keeps the accounts of devices and operators: names, roles,
// groups, SCRAM credentials and online state. It stores them under the dev:,
// cred: and meta: keys of the hub's BuntDB file and speaks no XML.
package devices

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"mellium.im/xmpp/jid"
)

// Role says what an account may do.
type Role string

// The roles. Devices publish their own data; operators watch the devices of
// their groups; admins manage accounts and see everything.
const (
	RoleDevice   Role = "device"
	RoleOperator Role = "operator"
	RoleAdmin    Role = "admin"
)

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(strings.ToLower(s)); r {
	case RoleDevice, RoleOperator, RoleAdmin:
		return r, nil
	case "":
		return RoleDevice, nil
	}
	return "", fmt.Errorf("unknown role %q (want device, operator or admin)", s)
}

// Watches reports whether the role sees the devices of its groups.
func (r Role) Watches() bool { return r == RoleOperator || r == RoleAdmin }

// Account is one login.
type Account struct {
	Name     string    `json:"name"` // normalized localpart of the JID
	Role     Role      `json:"role"`
	Groups   []string  `json:"groups,omitempty"`
	Demo     bool      `json:"demo,omitempty"` // created by geohub serve --demo
	MQTT     bool      `json:"mqtt,omitempty"` // provisioned by the MQTT bridge: reports over MQTT only
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen,omitzero"`
}

// InGroup reports whether the account is a member of group g.
func (a *Account) InGroup(g string) bool { return slices.Contains(a.Groups, g) }

// Errors returned by the store.
var (
	ErrNotFound = errors.New("no such account")
	ErrExists   = errors.New("account already exists")
)

// NormalizeName returns the canonical localpart for name (RFC 7622 §3.3), or
// an error naming what is wrong with it.
func NormalizeName(name string) (string, error) {
	if name == "" {
		return "", errors.New("empty account name")
	}
	j, err := jid.New(name, "localhost", "")
	if err != nil {
		return "", fmt.Errorf("invalid account name %q: %w", name, err)
	}
	return j.Localpart(), nil
}

// normalizeGroups trims, deduplicates and sorts group names.
func normalizeGroups(groups []string) ([]string, error) {
	var out []string
	for _, g := range groups {
		for _, part := range strings.Split(g, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			if len(part) > 64 || strings.ContainsAny(part, "\x00\n\r\t") {
				return nil, fmt.Errorf("invalid group name %q", part)
			}
			out = append(out, part)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Bounds of a password a person chooses; generated ones have 26 characters.
const MinPassword, MaxPassword = 8, 1024

// ErrPassword is the password policy, broken.
var ErrPassword = fmt.Errorf("password: %d to %d characters, or none for a generated one", MinPassword, MaxPassword)

// CheckPassword applies the policy to a password a person chose; "" asks
// for a generated one and passes.
func CheckPassword(password string) error {
	if n := utf8.RuneCountInString(password); password != "" && (n < MinPassword || n > MaxPassword) {
		return ErrPassword
	}
	return nil
}

// NewPassword returns a random password of 26 base32 characters (128 bits),
// easy to paste into a client's configuration.
func NewPassword() string { return rand.Text() }
