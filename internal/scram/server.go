package scram

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strconv"

	"mellium.im/sasl"
)

// ErrMalformed is returned for a client message that does not follow the
// SCRAM grammar; the hub answers it with a malformed-request failure.
var ErrMalformed = errors.New("scram: malformed client message")

// Lookup returns the credential of user, a normalized username, and whether
// the account exists.
type Lookup func(user string) (Credential, bool)

// Result is told how an exchange ended: the normalized user and whether the
// proof was right. It returns whether the login is accepted, so it may refuse
// a right proof (an address locked out for guessing). It runs before the
// client is answered, so it may delay a failure to slow down guessing.
type Result func(user string, ok bool) bool

// fakeSecret keys the salts made up for unknown users, so that the answer to
// a client does not tell whether an account exists.
var fakeSecret = func() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}()

// serverState carries one exchange from the client's first message to its
// final one.
type serverState struct {
	step        int
	user        string
	known       bool
	keys        Keys
	gs2Header   []byte
	nonce       []byte
	clientFirst []byte // client-first-message-bare
	serverFirst []byte
}

// ServerMechanism returns the receiving side of SCRAM with hash h for
// mellium's xmpp.SASLServer. Unknown users are answered with a made-up salt
// and fakeIterations, which should be the count real accounts get, so that
// the answer does not tell them apart.
func ServerMechanism(h Hash, lookup Lookup, result Result, fakeIterations int) sasl.Mechanism {
	return sasl.Mechanism{
		Name: h.Mechanism,
		Start: func(*sasl.Negotiator) (bool, []byte, any, error) {
			return false, nil, nil, sasl.ErrInvalidState
		},
		Next: func(n *sasl.Negotiator, msg []byte, data any) (bool, []byte, any, error) {
			st, _ := data.(*serverState)
			if st == nil {
				st = &serverState{}
			}
			switch st.step {
			case 0:
				if len(msg) == 0 {
					// No initial response: ask for it with an empty challenge
					// (RFC 6120 §6.4.2).
					st.step = 0
					return true, nil, st, nil
				}
				resp, err := st.first(h, n.Nonce(), msg, lookup, fakeIterations)
				if err != nil {
					return false, nil, nil, err
				}
				st.step = 1
				return true, resp, st, nil
			case 1:
				resp, err := st.final(h, msg)
				if err != nil && !errors.Is(err, sasl.ErrAuthn) {
					return false, nil, nil, err
				}
				if result != nil && !result(st.user, err == nil) || err != nil {
					return false, nil, nil, sasl.ErrAuthn
				}
				return false, resp, nil, nil
			}
			return false, nil, nil, sasl.ErrTooManySteps
		},
	}
}

// first handles client-first-message and returns server-first-message.
func (st *serverState) first(h Hash, serverNonce, msg []byte, lookup Lookup, fakeIterations int) ([]byte, error) {
	// gs2-header: cbind flag, optional authzid.
	flag, rest, ok := bytes.Cut(msg, []byte{','})
	if !ok {
		return nil, ErrMalformed
	}
	switch {
	case len(flag) == 1 && (flag[0] == 'n' || flag[0] == 'y'):
		// 'y': the client could bind but thinks we cannot, which is true.
	case bytes.HasPrefix(flag, []byte("p=")):
		// Channel binding is never advertised.
		return nil, sasl.ErrAuthn
	default:
		return nil, ErrMalformed
	}
	authz, bare, ok := bytes.Cut(rest, []byte{','})
	if !ok {
		return nil, ErrMalformed
	}
	st.gs2Header = msg[:len(msg)-len(bare)]
	st.clientFirst = bare
	if bytes.HasPrefix(bare, []byte("m=")) {
		return nil, ErrMalformed
	}
	nameAttr, rest, ok := bytes.Cut(bare, []byte{','})
	if !ok || !bytes.HasPrefix(nameAttr, []byte("n=")) {
		return nil, ErrMalformed
	}
	user, err := unescapeName(nameAttr[2:])
	if err != nil || user == "" {
		return nil, ErrMalformed
	}
	nonceAttr, _, _ := bytes.Cut(rest, []byte{','})
	if !bytes.HasPrefix(nonceAttr, []byte("r=")) || len(nonceAttr) == 2 || !printable(nonceAttr[2:]) {
		return nil, ErrMalformed
	}
	if len(authz) > 0 {
		// Acting as another user is not supported; naming oneself is fine.
		if !bytes.HasPrefix(authz, []byte("a=")) {
			return nil, ErrMalformed
		}
		if a, err := unescapeName(authz[2:]); err != nil || a != user {
			return nil, sasl.ErrAuthn
		}
	}
	cred, known := lookup(user)
	st.user, st.known = user, known
	if !known {
		cred = fakeCredential(user, fakeIterations)
	}
	st.keys = cred.Keys(h)
	st.nonce = append(append([]byte{}, nonceAttr[2:]...), serverNonce...)
	resp := make([]byte, 0, 64+len(st.nonce))
	resp = append(resp, "r="...)
	resp = append(resp, st.nonce...)
	resp = append(resp, ",s="...)
	resp = base64.StdEncoding.AppendEncode(resp, cred.Salt)
	resp = append(resp, ",i="...)
	resp = strconv.AppendInt(resp, int64(cred.Iterations), 10)
	st.serverFirst = resp
	return resp, nil
}

// final handles client-final-message and returns server-final-message.
func (st *serverState) final(h Hash, msg []byte) ([]byte, error) {
	i := bytes.LastIndex(msg, []byte(",p="))
	if i < 0 {
		return nil, ErrMalformed
	}
	withoutProof := msg[:i]
	proof, err := base64.StdEncoding.DecodeString(string(msg[i+3:]))
	if err != nil {
		return nil, ErrMalformed
	}
	cb, rest, ok := bytes.Cut(withoutProof, []byte{','})
	if !ok || !bytes.HasPrefix(cb, []byte("c=")) {
		return nil, ErrMalformed
	}
	binding, err := base64.StdEncoding.DecodeString(string(cb[2:]))
	if err != nil {
		return nil, ErrMalformed
	}
	nonceAttr, _, _ := bytes.Cut(rest, []byte{','})
	if !bytes.HasPrefix(nonceAttr, []byte("r=")) {
		return nil, ErrMalformed
	}
	if !bytes.Equal(binding, st.gs2Header) || !bytes.Equal(nonceAttr[2:], st.nonce) {
		return nil, sasl.ErrAuthn
	}
	auth := make([]byte, 0, len(st.clientFirst)+len(st.serverFirst)+len(withoutProof)+2)
	auth = append(append(append(append(append(auth, st.clientFirst...), ','), st.serverFirst...), ','), withoutProof...)

	sig := hmac.New(h.New, st.keys.StoredKey)
	sig.Write(auth)
	clientSig := sig.Sum(nil)
	if len(proof) != len(clientSig) {
		return nil, sasl.ErrAuthn
	}
	clientKey := make([]byte, len(proof))
	subtle.XORBytes(clientKey, proof, clientSig)
	stored := h.New()
	stored.Write(clientKey)
	if !hmac.Equal(stored.Sum(nil), st.keys.StoredKey) || !st.known {
		return nil, sasl.ErrAuthn
	}
	srv := hmac.New(h.New, st.keys.ServerKey)
	srv.Write(auth)
	return base64.StdEncoding.AppendEncode([]byte("v="), srv.Sum(nil)), nil
}

// fakeCredential makes up a stable salt for an unknown user so that probing
// usernames learns nothing; the keys are random, so no proof matches.
func fakeCredential(user string, iter int) Credential {
	if iter <= 0 {
		iter = DefaultIterations
	}
	m := hmac.New(SHA256.New, fakeSecret)
	m.Write([]byte(user))
	junk := make([]byte, 32)
	rand.Read(junk)
	k := Keys{StoredKey: junk, ServerKey: junk}
	return Credential{Salt: m.Sum(nil)[:16], Iterations: iter, SHA1: k, SHA256: k}
}

// unescapeName decodes a saslname ("=2C" is ',' and "=3D" is '=').
func unescapeName(b []byte) (string, error) {
	if bytes.IndexByte(b, '=') < 0 {
		return string(b), nil
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '=' {
			out = append(out, b[i])
			continue
		}
		switch {
		case bytes.HasPrefix(b[i:], []byte("=2C")):
			out = append(out, ',')
		case bytes.HasPrefix(b[i:], []byte("=3D")):
			out = append(out, '=')
		default:
			return "", ErrMalformed
		}
		i += 2
	}
	return string(out), nil
}

func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x21 || c > 0x7e || c == ',' {
			return false
		}
	}
	return true
}
