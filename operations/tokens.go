package operations

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/internal/store"
	"github.com/tidwall/buntdb"
)

// API tokens let scripts call the API as an operator or admin account,
// with its rights: "Authorization: Bearer gh_<id>_<secret>". Only the
// SHA-256 of the secret is stored (a random 128-bit secret needs no slow
// hash); the token is shown once, when it is made.
//
// Keys owned here: tok:<id>.
const tokenPrefix = "tok:"

// Token errors.
var (
	ErrNoToken     = errors.New("no such token")
	ErrTokenExists = errors.New("the account has a token of that name already")
)

// Token is what is known of an API token; the secret is not kept.
type Token struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Account  string     `json:"account"`
	Created  time.Time  `json:"created"`
	LastUsed *time.Time `json:"last_used"`
}

// IssuedToken is a token just made: its secret appears here only.
type IssuedToken struct {
	Token
	Secret string `json:"token"`
}

type storedToken struct {
	Token
	Hash           string    `json:"hash"`            // hex SHA-256 of the secret
	AccountCreated time.Time `json:"account_created"` // a new account of the same name does not inherit it
}

// Tokens is the store of API tokens, kept in memory and in the hub's
// database.
type Tokens struct {
	db       *buntdb.DB
	accounts devices.Accounts
	// wmu orders the writes of tokens, across their sync; mu guards byID
	// and is never held across one, as every API request reads it.
	wmu  sync.Mutex
	mu   sync.Mutex
	byID map[string]*storedToken
}

// lastUsedEvery is how stale a token's stored last use may get: it is
// written at most this often per token, not on every request.
const lastUsedEvery = time.Hour

// OpenTokens loads the tokens. Tokens of accounts removed meanwhile are
// dropped as the accounts go.
func OpenTokens(db *buntdb.DB, accounts devices.Accounts) (*Tokens, error) {
	t := &Tokens{db: db, accounts: accounts, byID: map[string]*storedToken{}}
	var bad error
	db.View(func(tx *buntdb.Tx) error {
		return store.AscendPrefix(tx, tokenPrefix, func(k, v string) bool {
			var st storedToken
			if bad = json.Unmarshal([]byte(v), &st); bad != nil {
				bad = fmt.Errorf("%s: %w", k, bad)
				return false
			}
			t.byID[st.ID] = &st
			return true
		})
	})
	if bad != nil {
		return nil, bad
	}
	accounts.Watch(func(c devices.Change) {
		if c.Kind == devices.Removed || c.Kind == devices.Updated && !c.After.Role.Watches() {
			t.revokeAccount(c.Before.Name)
		}
	})
	return t, nil
}

// Add makes a token called name for the account and returns it with the
// secret to give its user, which is not kept.
func (t *Tokens) Add(name, account string) (Token, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 100 || strings.ContainsAny(name, "\x00\r\n\t") {
		return Token{}, "", errors.New("a token needs a name of 1 to 100 characters, on one line")
	}
	a, ok := t.accounts.Get(account)
	if !ok {
		return Token{}, "", fmt.Errorf("%s: %w", account, devices.ErrNotFound)
	}
	if !a.Role.Watches() {
		return Token{}, "", fmt.Errorf("%s is a %s account: tokens are for operators and admins", a.Name, a.Role)
	}
	b := make([]byte, 5)
	rand.Read(b)
	secret := rand.Text()
	st := &storedToken{
		Token:          Token{ID: "t" + hex.EncodeToString(b), Name: name, Account: a.Name, Created: time.Now().UTC().Truncate(time.Second)},
		Hash:           hashSecret(secret),
		AccountCreated: a.Created,
	}
	// The token is in memory before it is durable, but nobody can use it:
	// its secret is returned only once it is.
	t.wmu.Lock()
	defer t.wmu.Unlock()
	t.mu.Lock()
	for _, o := range t.byID {
		if o.Account == a.Name && o.Name == name {
			t.mu.Unlock()
			return Token{}, "", fmt.Errorf("%s of %s: %w", name, a.Name, ErrTokenExists)
		}
	}
	t.byID[st.ID] = st
	t.mu.Unlock()
	if err := t.write(st); err != nil {
		t.mu.Lock()
		delete(t.byID, st.ID)
		t.mu.Unlock()
		return Token{}, "", err
	}
	return st.Token, "gh_" + st.ID + "_" + secret, nil
}

func hashSecret(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// write stores st; t.wmu is held, t.mu is not.
func (t *Tokens) write(st *storedToken) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return t.db.Update(func(tx *buntdb.Tx) error {
		_, _, err := tx.Set(tokenPrefix+st.ID, string(b), nil)
		return err
	})
}

// List returns the tokens by account, then name.
func (t *Tokens) List() []Token {
	t.mu.Lock()
	out := make([]Token, 0, len(t.byID))
	for _, st := range t.byID {
		out = append(out, st.Token)
	}
	t.mu.Unlock()
	slices.SortFunc(out, func(a, b Token) int {
		return strings.Compare(a.Account+"\x00"+a.Name+"\x00"+a.ID, b.Account+"\x00"+b.Name+"\x00"+b.ID)
	})
	return out
}

// Revoke deletes a token: it stops working at once.
func (t *Tokens) Revoke(id string) error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	t.mu.Lock()
	st := t.byID[id]
	if st == nil {
		t.mu.Unlock()
		return fmt.Errorf("%s: %w", id, ErrNoToken)
	}
	delete(t.byID, id)
	t.mu.Unlock()
	return t.remove(st)
}

// revokeAccount deletes the tokens of an account that is gone.
func (t *Tokens) revokeAccount(name string) {
	var gone []*storedToken
	t.wmu.Lock()
	defer t.wmu.Unlock()
	t.mu.Lock()
	for id, st := range t.byID {
		if st.Account == name {
			gone = append(gone, st)
			delete(t.byID, id)
		}
	}
	t.mu.Unlock()
	t.remove(gone...)
}

// remove deletes tokens already taken out of memory; t.wmu is held, t.mu
// is not. When the write fails, they are put back.
func (t *Tokens) remove(gone ...*storedToken) error {
	if len(gone) == 0 {
		return nil
	}
	err := t.db.Update(func(tx *buntdb.Tx) error {
		for _, st := range gone {
			if err := store.Delete(tx, tokenPrefix+st.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.mu.Lock()
		for _, st := range gone {
			t.byID[st.ID] = st
		}
		t.mu.Unlock()
	}
	return err
}

// Authenticate returns the account a token acts as, and the token's ID.
// The account must still be the one the token was made for, and an
// operator or admin.
func (t *Tokens) Authenticate(tok string) (devices.Account, string, bool) {
	rest, ok := strings.CutPrefix(tok, "gh_")
	if !ok {
		return devices.Account{}, "", false
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok {
		return devices.Account{}, "", false
	}
	hash := hashSecret(secret)
	t.mu.Lock()
	st := t.byID[id]
	if st == nil || subtle.ConstantTimeCompare([]byte(hash), []byte(st.Hash)) != 1 {
		t.mu.Unlock()
		return devices.Account{}, "", false
	}
	account, accountCreated := st.Account, st.AccountCreated
	now := time.Now().UTC().Truncate(time.Second)
	var persist *storedToken
	if st.LastUsed == nil || now.Sub(*st.LastUsed) >= lastUsedEvery {
		cp := *st
		cp.LastUsed = &now
		t.byID[id], persist = &cp, &cp
	}
	t.mu.Unlock()
	if persist != nil {
		t.wmu.Lock()
		t.mu.Lock()
		current := t.byID[id] == persist // not revoked meanwhile
		t.mu.Unlock()
		if current {
			t.write(persist) // best effort: last use is informational
		}
		t.wmu.Unlock()
	}
	a, ok := t.accounts.Get(account)
	if !ok || !a.Role.Watches() || !a.Created.Equal(accountCreated) {
		return devices.Account{}, "", false
	}
	return a, id, true
}

// Valid reports whether the token with this ID still exists.
func (t *Tokens) Valid(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byID[id] != nil
}

// AddToken makes an API token called name acting as the account (an
// operator or admin) and returns it with its secret, shown this once.
func (s *Service) AddToken(name, account string) (IssuedToken, error) {
	tok, secret, err := s.Tokens.Add(name, account)
	if err != nil {
		return IssuedToken{}, err
	}
	return IssuedToken{Token: tok, Secret: secret}, nil
}

// ListTokens returns the API tokens by account, then name.
func (s *Service) ListTokens() []Token { return s.Tokens.List() }

// RevokeTokens revokes API tokens by ID, reporting every one that fails
// (ErrNoToken for one that does not exist).
func (s *Service) RevokeTokens(ids ...string) error { return each(ids, s.Tokens.Revoke) }
