package devices

import (
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/geohub/geohub/internal/scram"
	"github.com/geohub/geohub/internal/store"
	"github.com/tidwall/buntdb"
	"mellium.im/xmpp/jid"
)

// Keys owned by this package.
const (
	accountPrefix = "dev:"
	credPrefix    = "cred:"
	domainKey     = "meta:domain"
	genKey        = "meta:gen"
)

// ChangeKind says what happened to an account.
type ChangeKind int

// Kinds of change.
const (
	Added ChangeKind = iota + 1
	Removed
	Updated
)

// Change is sent to watchers after it is committed. Before is nil for Added,
// After is nil for Removed.
type Change struct {
	Kind          ChangeKind
	Before, After *Account
}

// Options configure a Store.
type Options struct {
	// Domain is the XMPP domain of the accounts. Empty means the one stored
	// by an earlier run, or localhost.
	Domain string
	// Iterations is the PBKDF2 count for new credentials.
	Iterations int
}

// Store is the account database. Everything is cached in memory (BuntDB
// holds it in memory anyway); writes go through to BuntDB first.
type Store struct {
	db      *buntdb.DB
	domain  string
	iter    int
	hubName string // reserved: hubname.go

	// wmu serializes changes: each checks, writes and updates memory as
	// one step, and watchers see changes in the order they happened.
	wmu sync.Mutex

	mu       sync.RWMutex
	accounts map[string]*Account
	creds    map[string]scram.Credential
	// Group members, split by side of the watcher line, so that a device's
	// peers (its operators) are found without walking a whole fleet.
	groupWatchers map[string]map[string]struct{}
	groupDevices  map[string]map[string]struct{}
	gen           uint64 // bumped, and stored, whenever accounts, groups or roles change
	online        map[string]int
	seen          map[string]time.Time // last-seen times not yet written
	watchers      []func(Change)
	onlineWatch   []func(name string, online bool)
	passwordWatch []func(name string)
	stop          chan struct{}
	stopped       chan struct{}
}

// lastSeenEvery is how often last-seen times are written: one transaction
// for all logouts in the period instead of a synced write per logout.
const lastSeenEvery = 5 * time.Second

// Open loads the accounts from db.
func Open(db *buntdb.DB, opt Options) (*Store, error) {
	s := &Store{
		db: db, iter: opt.Iterations,
		accounts:      map[string]*Account{},
		creds:         map[string]scram.Credential{},
		groupWatchers: map[string]map[string]struct{}{},
		groupDevices:  map[string]map[string]struct{}{},
		online:        map[string]int{},
		seen:          map[string]time.Time{},
		stop:          make(chan struct{}),
		stopped:       make(chan struct{}),
	}
	err := db.Update(func(tx *buntdb.Tx) error {
		stored, err := tx.Get(domainKey)
		if err != nil && err != buntdb.ErrNotFound {
			return err
		}
		s.domain = opt.Domain
		if s.domain != "" {
			d, err := jid.Parse(s.domain)
			if err != nil || d.Localpart() != "" || d.Resourcepart() != "" {
				return fmt.Errorf("invalid domain %q", opt.Domain)
			}
			s.domain = d.Domainpart()
		}
		if err := s.loadHubName(tx); err != nil {
			return err
		}
		if g, err := tx.Get(genKey); err == nil {
			s.gen, _ = strconv.ParseUint(g, 10, 64)
		}
		switch {
		case s.domain == "" && stored != "":
			s.domain = stored
		case s.domain == "":
			s.domain = "localhost"
		}
		if stored != s.domain {
			if _, _, err := tx.Set(domainKey, s.domain, nil); err != nil {
				return err
			}
		}
		var bad error
		store.AscendPrefix(tx, accountPrefix, func(k, v string) bool {
			var a Account
			if bad = json.Unmarshal([]byte(v), &a); bad != nil {
				bad = fmt.Errorf("%s: %w", k, bad)
				return false
			}
			s.accounts[a.Name] = &a
			s.index(&a)
			return true
		})
		if bad != nil {
			return bad
		}
		store.AscendPrefix(tx, credPrefix, func(k, v string) bool {
			var c scram.Credential
			if bad = json.Unmarshal([]byte(v), &c); bad != nil {
				bad = fmt.Errorf("%s: %w", k, bad)
				return false
			}
			s.creds[strings.TrimPrefix(k, credPrefix)] = c
			return true
		})
		return bad
	})
	if err != nil {
		return nil, fmt.Errorf("load accounts: %w", err)
	}
	go s.writeLastSeen()
	return s, nil
}

// Close writes the pending last-seen times; the store is not used after.
func (s *Store) Close() error {
	close(s.stop)
	<-s.stopped
	return nil
}

// Domain is the XMPP domain of the accounts.
func (s *Store) Domain() string { return s.domain }

// JID returns the bare JID of the account name.
func (s *Store) JID(name string) string {
	if IsRemote(name) {
		return name
	}
	return name + "@" + s.domain
}

// Watch registers fn to be called after every committed change. fn runs on
// the goroutine that made the change and must not call back into Store
// methods that write.
func (s *Store) Watch(fn func(Change)) {
	s.mu.Lock()
	s.watchers = append(s.watchers, fn)
	s.mu.Unlock()
}

func (s *Store) notify(changes []Change) {
	s.mu.RLock()
	ws := s.watchers
	s.mu.RUnlock()
	for _, c := range changes {
		for _, w := range ws {
			w(c)
		}
	}
}

// NewAccount describes an account to create. An empty Password gets a
// generated one.
type NewAccount struct {
	Name     string
	Role     Role
	Groups   []string
	Password string
	Demo     bool
	MQTT     bool // an MQTT-only device the bridge provisioned
}

// Created is a new account and its password, which is not kept anywhere.
type Created struct {
	Account  Account
	Password string
}

// Add creates accounts in one transaction: all of them, or none when one is
// invalid or exists already.
func (s *Store) Add(reqs ...NewAccount) ([]Created, error) {
	out := make([]Created, len(reqs))
	seen := map[string]bool{}
	now := time.Now().UTC().Truncate(time.Second)
	for i, r := range reqs {
		role, err := ParseRole(string(r.Role))
		if err != nil {
			return nil, err
		}
		var name string
		if IsRemote(r.Name) {
			name, err = s.normalizeRemote(r.Name, role)
		} else {
			name, err = NormalizeName(r.Name)
		}
		if err != nil {
			return nil, err
		}
		if IsRemote(name) && r.Password != "" {
			return nil, fmt.Errorf("%s: %w", name, ErrRemote)
		}
		if seen[name] {
			return nil, fmt.Errorf("%s: %w", name, ErrExists)
		}
		seen[name] = true
		groups, err := normalizeGroups(r.Groups)
		if err != nil {
			return nil, err
		}
		pw := r.Password
		if pw == "" && !IsRemote(name) {
			pw = NewPassword()
		}
		out[i] = Created{Account: Account{Name: name, Role: role, Groups: groups, Demo: r.Demo, MQTT: r.MQTT, Created: now}, Password: pw}
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	for _, c := range out {
		if s.Exists(c.Account.Name) {
			return nil, fmt.Errorf("%s: %w", c.Account.Name, ErrExists)
		}
		if c.Account.Name == s.HubName() {
			return nil, fmt.Errorf("%s: %w", c.Account.Name, ErrReserved)
		}
	}
	creds := s.deriveAll(out)
	err := s.db.Update(func(tx *buntdb.Tx) error {
		for i, c := range out {
			name := c.Account.Name
			if err := store.SetJSON(tx, accountPrefix+name, c.Account); err != nil {
				return err
			}
			if IsRemote(name) {
				continue
			}
			if err := store.SetJSON(tx, credPrefix+name, creds[i]); err != nil {
				return err
			}
		}
		return s.bumpGen(tx)
	})
	if err != nil {
		return nil, err
	}
	changes := make([]Change, len(out))
	s.mu.Lock()
	for i := range out {
		stored, after := out[i].Account, out[i].Account
		s.accounts[stored.Name] = &stored
		if !IsRemote(stored.Name) {
			s.creds[stored.Name] = creds[i]
		}
		s.index(&stored)
		changes[i] = Change{Kind: Added, After: &after}
	}
	s.gen++
	s.mu.Unlock()
	s.notify(changes)
	return out, nil
}

// bumpGen stores the next generation in tx; the caller increments s.gen
// once tx has committed.
func (s *Store) bumpGen(tx *buntdb.Tx) error {
	_, _, err := tx.Set(genKey, strconv.FormatUint(s.Generation()+1, 10), nil)
	return err
}

// deriveAll computes credentials on every core: PBKDF2 is the cost of
// provisioning thousands of devices at once.
func (s *Store) deriveAll(cs []Created) []scram.Credential {
	creds := make([]scram.Credential, len(cs))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				if IsRemote(cs[i].Account.Name) {
					continue
				}
				creds[i] = scram.NewCredential(cs[i].Password, s.iter)
			}
		})
	}
	for i := range cs {
		next <- i
	}
	close(next)
	wg.Wait()
	return creds
}

// side returns the group index a belongs to.
func (s *Store) side(a *Account) map[string]map[string]struct{} {
	if a.Role.Watches() {
		return s.groupWatchers
	}
	return s.groupDevices
}

// index adds a to the group index; s.mu must be held or s not yet shared.
func (s *Store) index(a *Account) {
	idx := s.side(a)
	for _, g := range a.Groups {
		m := idx[g]
		if m == nil {
			m = map[string]struct{}{}
			idx[g] = m
		}
		m[a.Name] = struct{}{}
	}
}

func (s *Store) unindex(a *Account) {
	idx := s.side(a)
	for _, g := range a.Groups {
		delete(idx[g], a.Name)
		if len(idx[g]) == 0 {
			delete(idx, g)
		}
	}
}

// Get returns the account called name (normalized or not).
func (s *Store) Get(name string) (Account, bool) {
	s.mu.RLock()
	var acc Account
	a, ok := s.accounts[name]
	if ok {
		acc = *a // copied under the lock: setOnline writes LastSeen
	}
	s.mu.RUnlock()
	if !ok {
		if n, err := NormalizeName(name); err == nil && n != name {
			return s.Get(n)
		}
		return Account{}, false
	}
	return acc, true
}

// Exists reports whether the normalized name is an account.
func (s *Store) Exists(name string) bool {
	s.mu.RLock()
	_, ok := s.accounts[name]
	s.mu.RUnlock()
	return ok
}

// Filter selects accounts in List. Zero fields match everything.
type Filter struct {
	Role  Role
	Group string
	Text  string // substring of the name
}

// List returns the matching accounts sorted by name.
func (s *Store) List(f Filter) []Account {
	s.mu.RLock()
	out := make([]Account, 0, len(s.accounts))
	for _, a := range s.accounts {
		if (f.Role == "" || a.Role == f.Role) && (f.Group == "" || a.InGroup(f.Group)) &&
			(f.Text == "" || strings.Contains(a.Name, f.Text)) {
			out = append(out, *a)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b Account) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Remove deletes an account and its credentials.
func (s *Store) Remove(name string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	a, ok := s.Get(name)
	if !ok {
		return fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	err := s.db.Update(func(tx *buntdb.Tx) error {
		if err := store.Delete(tx, accountPrefix+a.Name, credPrefix+a.Name); err != nil {
			return err
		}
		return s.bumpGen(tx)
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.unindex(s.accounts[a.Name])
	delete(s.accounts, a.Name)
	delete(s.creds, a.Name)
	delete(s.seen, a.Name)
	s.gen++
	s.mu.Unlock()
	s.notify([]Change{{Kind: Removed, Before: &a}})
	return nil
}

// SetPassword replaces the credentials of name; an empty password gets a
// generated one, which is returned.
func (s *Store) SetPassword(name, password string) (string, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	a, ok := s.Get(name)
	if !ok {
		return "", fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	if IsRemote(a.Name) {
		return "", fmt.Errorf("%s: %w", a.Name, ErrRemote)
	}
	if password == "" {
		password = NewPassword()
	}
	cred := scram.NewCredential(password, s.iter)
	if err := s.db.Update(func(tx *buntdb.Tx) error { return store.SetJSON(tx, credPrefix+a.Name, cred) }); err != nil {
		return "", err
	}
	s.mu.Lock()
	s.creds[a.Name] = cred
	ws := s.passwordWatch
	s.mu.Unlock()
	for _, w := range ws {
		w(a.Name)
	}
	return password, nil
}

// Update changes the role, groups or flags of an account with fn.
func (s *Store) Update(name string, fn func(*Account) error) (Account, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	before, ok := s.Get(name)
	if !ok {
		return Account{}, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	after := before
	after.Groups = slices.Clone(before.Groups)
	if err := fn(&after); err != nil {
		return Account{}, err
	}
	after.Name = before.Name
	var err error
	if after.Role, err = ParseRole(string(after.Role)); err != nil {
		return Account{}, err
	}
	if after.Groups, err = normalizeGroups(after.Groups); err != nil {
		return Account{}, err
	}
	err = s.db.Update(func(tx *buntdb.Tx) error {
		if err := store.SetJSON(tx, accountPrefix+after.Name, after); err != nil {
			return err
		}
		return s.bumpGen(tx)
	})
	if err != nil {
		return Account{}, err
	}
	s.mu.Lock()
	s.unindex(s.accounts[before.Name])
	stored, changed := after, after
	s.accounts[after.Name] = &stored
	s.index(&stored)
	s.gen++
	s.mu.Unlock()
	s.notify([]Change{{Kind: Updated, Before: &before, After: &changed}})
	return after, nil
}

// Credential returns the SCRAM credential of the normalized name.
func (s *Store) Credential(name string) (scram.Credential, bool) {
	s.mu.RLock()
	c, ok := s.creds[name]
	s.mu.RUnlock()
	return c, ok
}

// Authenticate checks a plain password (SASL PLAIN) for the normalized name.
func (s *Store) Authenticate(name, password string) bool {
	c, ok := s.Credential(name)
	if !ok {
		// Spend what a real check costs, so that timing does not tell
		// which accounts exist.
		scram.SaltPassword(scram.SHA256, password, []byte("no such account"), s.Iterations())
		return false
	}
	return c.Verify(password)
}

// Iterations is the PBKDF2 count new credentials get.
func (s *Store) Iterations() int {
	if s.iter <= 0 {
		return scram.DefaultIterations
	}
	return s.iter
}

// Generation changes whenever any group membership or role changes, so that
// derived views such as roster versions know when to rebuild.
func (s *Store) Generation() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.gen
}
