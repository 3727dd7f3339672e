package dashboard

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/internal/store"
	"github.com/tidwall/buntdb"
)

// session is one browser's login.
type session struct {
	key     string // SHA-256 of the cookie value: what the map holds
	account string
	created time.Time // the account's creation: a new account of the same name is not this login's
	cred    string    // the account's devices.CredentialID: a new password ends the login
	csrf    string
	expires time.Time
	dead    atomic.Bool // logged out or expired: its live streams end
}

// sessionPrefix keys the stored logins, web:<SHA-256 of the cookie
// value>, each with a TTL, so that a restart of the hub logs nobody out.
// The cookie value itself is never stored.
const sessionPrefix = "web:"

type storedSession struct {
	Account string    `json:"account"`
	Created time.Time `json:"created"`
	Cred    string    `json:"cred"`
	CSRF    string    `json:"csrf"`
	Expires time.Time `json:"expires"`
}

// sessions are the logins, in memory and in the database.
type sessions struct {
	ttl time.Duration
	db  *buntdb.DB
	log *slog.Logger
	mu  sync.Mutex
	m   map[string]*session
}

// maxSessionsPerAccount bounds the logins one account keeps; the oldest
// goes first.
const maxSessionsPerAccount = 100

// openSessions loads the logins that have not expired.
func openSessions(db *buntdb.DB, ttl time.Duration, log *slog.Logger) (*sessions, error) {
	ss := &sessions{ttl: ttl, db: db, log: log, m: map[string]*session{}}
	now := time.Now()
	err := db.View(func(tx *buntdb.Tx) error {
		return store.AscendPrefix(tx, sessionPrefix, func(k, v string) bool {
			var st storedSession
			if json.Unmarshal([]byte(v), &st) != nil || now.After(st.Expires) {
				return true // a broken or stale one is no login
			}
			key := strings.TrimPrefix(k, sessionPrefix)
			ss.m[key] = &session{key: key, account: st.Account, created: st.Created, cred: st.Cred, csrf: st.CSRF, expires: st.Expires}
			return true
		})
	})
	return ss, err
}

func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashKey(v string) string {
	h := sha256.Sum256([]byte(v))
	return hex.EncodeToString(h[:])
}

// create starts a session for a, logged in with the credentials cred
// (devices.CredentialID), and returns the cookie's value.
func (ss *sessions) create(a devices.Account, cred string) (string, *session, error) {
	value := randomToken(32)
	now := time.Now()
	sess := &session{key: hashKey(value), account: a.Name, created: a.Created, cred: cred, csrf: randomToken(24), expires: now.Add(ss.ttl)}
	ss.mu.Lock()
	var gone []string
	var mine []*session
	for k, o := range ss.m {
		if now.After(o.expires) {
			o.dead.Store(true)
			delete(ss.m, k)
			gone = append(gone, k)
		} else if o.account == a.Name {
			mine = append(mine, o)
		}
	}
	if len(mine) >= maxSessionsPerAccount {
		slices.SortFunc(mine, func(x, y *session) int { return x.expires.Compare(y.expires) })
		for _, o := range mine[:len(mine)-maxSessionsPerAccount+1] {
			o.dead.Store(true)
			delete(ss.m, o.key)
			gone = append(gone, o.key)
		}
	}
	ss.m[sess.key] = sess
	ss.mu.Unlock()
	b, _ := json.Marshal(storedSession{Account: sess.account, Created: sess.created, Cred: sess.cred, CSRF: sess.csrf, Expires: sess.expires})
	err := ss.db.Update(func(tx *buntdb.Tx) error {
		for _, k := range gone {
			if err := store.Delete(tx, sessionPrefix+k); err != nil {
				return err
			}
		}
		_, _, err := tx.Set(sessionPrefix+sess.key, string(b), &buntdb.SetOptions{Expires: true, TTL: ss.ttl})
		return err
	})
	if err != nil {
		ss.drop(sess)
		return "", nil, err
	}
	return value, sess, nil
}

func (ss *sessions) get(value string) *session {
	key := hashKey(value)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	sess := ss.m[key]
	if sess != nil && time.Now().After(sess.expires) {
		sess.dead.Store(true)
		delete(ss.m, key) // the database forgets it by its TTL
		return nil
	}
	return sess
}

// drop ends a session: logout, or its account changed.
func (ss *sessions) drop(sess *session) {
	sess.dead.Store(true)
	ss.mu.Lock()
	delete(ss.m, sess.key)
	ss.mu.Unlock()
	err := ss.db.Update(func(tx *buntdb.Tx) error {
		_, err := tx.Delete(sessionPrefix + sess.key)
		if err == buntdb.ErrNotFound {
			return nil
		}
		return err
	})
	if err != nil {
		ss.log.Error("forgetting a dashboard login", "account", sess.account, "err", err)
	}
}
