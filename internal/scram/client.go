package scram

import (
	"bytes"
	"crypto/hmac"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"sync"

	"mellium.im/sasl"
)

// SaltCache remembers salted passwords by password, salt and iteration count,
// as long-lived clients do, so that a reconnect does not pay for PBKDF2 again.
// The zero value is ready to use and safe for concurrent use.
type SaltCache struct{ m sync.Map }

func (c *SaltCache) salted(h Hash, password string, salt []byte, iter int) []byte {
	if c == nil {
		return SaltPassword(h, password, salt, iter)
	}
	key := h.Mechanism + "\x00" + password + "\x00" + string(salt) + "\x00" + strconv.Itoa(iter)
	if v, ok := c.m.Load(key); ok {
		return v.([]byte)
	}
	v := SaltPassword(h, password, salt, iter)
	c.m.Store(key, v)
	return v
}

type clientState struct {
	step        int
	clientFirst []byte // bare
	serverSig   []byte
}

var errServer = errors.New("scram: the server's answer is invalid")

// ClientMechanism returns the initiating side of SCRAM with hash h for
// mellium's xmpp.SASL. cache may be nil.
func ClientMechanism(h Hash, cache *SaltCache) sasl.Mechanism {
	return sasl.Mechanism{
		Name: h.Mechanism,
		Start: func(n *sasl.Negotiator) (bool, []byte, any, error) {
			user, _, _ := n.Credentials()
			name := strings.NewReplacer("=", "=3D", ",", "=2C").Replace(string(user))
			bare := []byte("n=" + name + ",r=" + string(n.Nonce()))
			return true, append([]byte("n,,"), bare...), &clientState{clientFirst: bare}, nil
		},
		Next: func(n *sasl.Negotiator, challenge []byte, data any) (bool, []byte, any, error) {
			st := data.(*clientState)
			if st.step == 1 {
				v, ok := bytes.CutPrefix(challenge, []byte("v="))
				sig, err := base64.StdEncoding.DecodeString(string(v))
				if !ok || err != nil || !hmac.Equal(sig, st.serverSig) {
					return false, nil, nil, errServer
				}
				return false, nil, nil, nil
			}
			var nonce, salt []byte
			iter := 0
			for _, f := range bytes.Split(challenge, []byte{','}) {
				switch {
				case bytes.HasPrefix(f, []byte("r=")):
					nonce = f[2:]
				case bytes.HasPrefix(f, []byte("s=")):
					salt, _ = base64.StdEncoding.DecodeString(string(f[2:]))
				case bytes.HasPrefix(f, []byte("i=")):
					iter, _ = strconv.Atoi(string(f[2:]))
				}
			}
			if !bytes.HasPrefix(nonce, n.Nonce()) || len(salt) == 0 || iter <= 0 {
				return false, nil, nil, errServer
			}
			_, password, _ := n.Credentials()
			salted := cache.salted(h, string(password), salt, iter)
			keys := KeysFromSalted(h, salted)
			withoutProof := []byte("c=biws,r=" + string(nonce))
			auth := bytes.Join([][]byte{st.clientFirst, challenge, withoutProof}, []byte{','})
			clientSig := hmac.New(h.New, keys.StoredKey)
			clientSig.Write(auth)
			proof := mac(h, salted, "Client Key")
			subtle.XORBytes(proof, proof, clientSig.Sum(nil))
			srv := hmac.New(h.New, keys.ServerKey)
			srv.Write(auth)
			st.serverSig = srv.Sum(nil)
			st.step = 1
			final := append(withoutProof, ",p="...)
			final = base64.StdEncoding.AppendEncode(final, proof)
			return true, final, st, nil
		},
	}
}
