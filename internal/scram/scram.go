// Package scram implements SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677)
// as mellium SASL mechanisms, working from stored keys.
//
// mellium's own SCRAM server needs the SaltedPassword, which is enough to log
// in as the user; RFC 5802 §2.1 has servers keep only StoredKey and ServerKey,
// so a copy of the database cannot be used to authenticate. This package does
// the server side from those keys, and a client side that caches the salted
// password per salt, as long-lived clients do, for tests and the simulator.
package scram

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"hash"

	"golang.org/x/text/secure/precis"
)

// Hash is one SCRAM hash function.
type Hash struct {
	Mechanism string // SASL mechanism name
	New       func() hash.Hash
}

// The supported hashes. Channel-binding (-PLUS) variants are deliberately
// absent: they are never advertised, and a client that asks for one gets
// invalid-mechanism.
var (
	SHA1   = Hash{Mechanism: "SCRAM-SHA-1", New: sha1.New}
	SHA256 = Hash{Mechanism: "SCRAM-SHA-256", New: sha256.New}
)

// DefaultIterations is the PBKDF2 iteration count for new credentials, the
// minimum RFC 7677 recommends.
const DefaultIterations = 4096

// Keys are what a server stores for one hash: enough to verify a client
// proof and to prove itself, not enough to log in.
type Keys struct {
	StoredKey []byte `json:"stored"`
	ServerKey []byte `json:"server"`
}

// SaltPassword is SaltedPassword := Hi(Normalize(password), salt, i).
func SaltPassword(h Hash, password string, salt []byte, iter int) []byte {
	if p, err := precis.OpaqueString.String(password); err == nil {
		password = p
	}
	key, err := pbkdf2.Key(h.New, password, salt, iter, h.New().Size())
	if err != nil {
		// Only reachable with an iteration count or key length FIPS mode
		// refuses; the parameters here are fixed and valid.
		panic(err)
	}
	return key
}

// KeysFromSalted derives the stored keys from a salted password.
func KeysFromSalted(h Hash, salted []byte) Keys {
	clientKey := mac(h, salted, "Client Key")
	stored := h.New()
	stored.Write(clientKey)
	return Keys{StoredKey: stored.Sum(nil), ServerKey: mac(h, salted, "Server Key")}
}

// Derive computes the stored keys for a password.
func Derive(h Hash, password string, salt []byte, iter int) Keys {
	return KeysFromSalted(h, SaltPassword(h, password, salt, iter))
}

// Verify reports whether password matches keys; it is how PLAIN logins are
// checked against SCRAM credentials.
func Verify(h Hash, keys Keys, password string, salt []byte, iter int) bool {
	got := Derive(h, password, salt, iter)
	return hmac.Equal(got.StoredKey, keys.StoredKey)
}

func mac(h Hash, key []byte, msg string) []byte {
	m := hmac.New(h.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// Credential is the SCRAM material stored for one account: one salt and
// iteration count, keys for each hash.
type Credential struct {
	Salt       []byte `json:"salt"`
	Iterations int    `json:"iter"`
	SHA1       Keys   `json:"sha1"`
	SHA256     Keys   `json:"sha256"`
}

// NewCredential salts password with a fresh random salt.
func NewCredential(password string, iter int) Credential {
	if iter <= 0 {
		iter = DefaultIterations
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	return Credential{
		Salt: salt, Iterations: iter,
		SHA1:   Derive(SHA1, password, salt, iter),
		SHA256: Derive(SHA256, password, salt, iter),
	}
}

// Keys returns the keys for hash h.
func (c Credential) Keys(h Hash) Keys {
	if h.Mechanism == SHA1.Mechanism {
		return c.SHA1
	}
	return c.SHA256
}

// Verify reports whether password is the one c was made from.
func (c Credential) Verify(password string) bool {
	return Verify(SHA256, c.SHA256, password, c.Salt, c.Iterations)
}
