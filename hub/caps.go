package hub

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/xml"
	"hash"
	"slices"
	"strings"
	"sync"

	"github.com/geohub/geohub/hub/internal/wire"
	"github.com/geohub/geohub/internal/xmlesc"
)

// Entity capabilities (XEP-0115): clients announce a hash of their features
// in presence; the hub asks once per hash what it stands for, checks the
// hash, and remembers the answer. PEP uses it to know who wants which
// notifications (<node>+notify).

const nsCaps = "http://jabber.org/protocol/caps"

// maxCapsCache bounds the remembered hashes: a client can announce any
// number of made-up ones.
const maxCapsCache = 4096

// features is a verified feature set.
type features map[string]bool

type capsCache struct {
	mu  sync.Mutex
	ver map[string]features // "hash ver" -> features
}

func (c *capsCache) get(key string) (features, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.ver[key]
	return f, ok
}

func (c *capsCache) put(key string, f features) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.ver) >= maxCapsCache {
		for k := range c.ver { // drop an arbitrary entry
			delete(c.ver, k)
			break
		}
	}
	c.ver[key] = f
}

// capsOf reads the <c/> element of a presence: hash, node and ver.
func capsOf(el *wire.Element) (algo, node, ver string, ok bool) {
	inner := el.Raw[el.StartEnd:]
	if !strings.Contains(string(inner), nsCaps) {
		return "", "", "", false
	}
	var p struct {
		C []struct {
			XMLName xml.Name
			Hash    string `xml:"hash,attr"`
			Node    string `xml:"node,attr"`
			Ver     string `xml:"ver,attr"`
		} `xml:"http://jabber.org/protocol/caps c"`
	}
	if xml.Unmarshal(el.Raw, &p) != nil || len(p.C) == 0 {
		return "", "", "", false
	}
	c := p.C[0]
	if hashFunc(c.Hash) == nil || c.Ver == "" || c.Node == "" {
		return "", "", "", false
	}
	return c.Hash, c.Node, c.Ver, true
}

func hashFunc(name string) func() hash.Hash {
	switch name {
	case "sha-1":
		return sha1.New
	case "sha-256":
		return sha256.New
	case "sha-512":
		return sha512.New
	}
	return nil
}

// discoInfoResult is a disco#info answer as far as XEP-0115 hashes it.
type discoInfoResult struct {
	Query struct {
		Identities []struct {
			Category string `xml:"category,attr"`
			Type     string `xml:"type,attr"`
			Lang     string `xml:"http://www.w3.org/XML/1998/namespace lang,attr"`
			Name     string `xml:"name,attr"`
		} `xml:"identity"`
		Features []struct {
			Var string `xml:"var,attr"`
		} `xml:"feature"`
		Forms []struct {
			Fields []struct {
				Var    string   `xml:"var,attr"`
				Type   string   `xml:"type,attr"`
				Values []string `xml:"value"`
			} `xml:"field"`
		} `xml:"jabber:x:data x"`
	} `xml:"http://jabber.org/protocol/disco#info query"`
}

// verifyCaps computes the verification string of a disco#info answer
// (XEP-0115 §5.1) and returns its features when it matches ver.
func verifyCaps(raw []byte, algo, ver string) (features, bool) {
	var r discoInfoResult
	if xml.Unmarshal(raw, &r) != nil {
		return nil, false
	}
	q := &r.Query
	var ids []string
	for _, i := range q.Identities {
		ids = append(ids, i.Category+"/"+i.Type+"/"+i.Lang+"/"+i.Name)
	}
	var feats []string
	for _, f := range q.Features {
		feats = append(feats, f.Var)
	}
	slices.Sort(ids)
	slices.Sort(feats)
	// §5.4: duplicate identities or features make the answer invalid.
	if len(slices.Compact(slices.Clone(ids))) != len(ids) || len(slices.Compact(slices.Clone(feats))) != len(feats) {
		return nil, false
	}
	var b strings.Builder
	for _, i := range ids {
		b.WriteString(i + "<")
	}
	for _, f := range feats {
		b.WriteString(f + "<")
	}
	type formEntry struct {
		formType string
		text     string
	}
	var forms []formEntry
	for _, f := range q.Forms {
		var formType string
		var fields []string
		for _, fl := range f.Fields {
			if fl.Var == "FORM_TYPE" {
				if len(fl.Values) != 1 || formType != "" {
					return nil, false
				}
				formType = fl.Values[0]
				continue
			}
			vals := slices.Clone(fl.Values)
			slices.Sort(vals)
			fields = append(fields, fl.Var+"<"+strings.Join(append(vals, ""), "<"))
		}
		if formType == "" {
			continue // forms without FORM_TYPE are ignored (§5.4)
		}
		slices.Sort(fields)
		forms = append(forms, formEntry{formType, formType + "<" + strings.Join(fields, "")})
	}
	slices.SortFunc(forms, func(a, b formEntry) int { return strings.Compare(a.formType, b.formType) })
	for i := 1; i < len(forms); i++ {
		if forms[i].formType == forms[i-1].formType {
			return nil, false
		}
	}
	for _, f := range forms {
		b.WriteString(f.text)
	}
	h := hashFunc(algo)()
	h.Write([]byte(b.String()))
	if base64.StdEncoding.EncodeToString(h.Sum(nil)) != ver {
		return nil, false
	}
	// Only +notify features are ever asked about: keep just those, a
	// bounded number, so that a client cannot fill the cache with large
	// answers.
	set := features{}
	for _, f := range feats {
		if strings.HasSuffix(f, "+notify") && len(set) < maxNotifyFeatures {
			set[f] = true
		}
	}
	return set, true
}

// maxNotifyFeatures bounds the +notify features kept per capabilities hash.
const maxNotifyFeatures = 64

// noteCaps records the capabilities a session announced in presence. When
// the hash is known it applies at once; otherwise the hub asks the client,
// and ready runs once the answer is verified (never, if it does not verify).
func (s *Server) noteCaps(ss *session, el *wire.Element, ready func()) {
	algo, node, ver, ok := capsOf(el)
	if !ok {
		ss.setFeatures(nil, "")
		ready()
		return
	}
	key := algo + " " + ver
	if f, ok := s.caps.get(key); ok {
		ss.setFeatures(f, key)
		ready()
		return
	}
	ss.pmu.Lock()
	ss.capsKey = key // the hash announced last is the one that counts
	ss.pmu.Unlock()
	// One question at a time per session: a client announcing hash after
	// made-up hash gets asked about the first only.
	ss.pmu.Lock()
	asking := ss.capsAsked
	if !asking {
		ss.capsAsked = true
	}
	ss.pmu.Unlock()
	if asking {
		return
	}
	id := newID("caps-")
	q := []byte("<iq type='get'")
	q = xmlesc.Attr(q, "from", s.domain)
	q = append(q, ss.toAttr...)
	q = xmlesc.Attr(q, "id", id)
	q = append(q, "><query xmlns='"+nsDiscoInfo+"'"...)
	q = xmlesc.Attr(q, "node", node+"#"+ver)
	q = append(q, "/></iq>"...)
	s.expect(ss, id, func(res *wire.Element) {
		ss.pmu.Lock()
		ss.capsAsked = false
		ss.pmu.Unlock()
		if string(res.Value(res.Type)) != "result" {
			return
		}
		f, ok := verifyCaps(res.Raw, algo, ver)
		if !ok {
			s.log.Info("capabilities hash does not verify", "jid", ss.full, "ver", ver)
			return
		}
		s.caps.put(key, f)
		if ss.setFeaturesIf(f, key) {
			ready()
		}
	})
	ss.send(q)
}

func (ss *session) setFeatures(f features, key string) {
	ss.pmu.Lock()
	ss.features, ss.capsKey = f, key
	ss.pmu.Unlock()
}

// setFeaturesIf applies an answer only if its hash is still the one the
// session announced last.
func (ss *session) setFeaturesIf(f features, key string) bool {
	ss.pmu.Lock()
	defer ss.pmu.Unlock()
	if ss.capsKey != key {
		return false
	}
	ss.features = f
	return true
}

// wants reports whether the session's capabilities include feature.
func (ss *session) wants(feature string) bool {
	ss.pmu.Lock()
	defer ss.pmu.Unlock()
	return ss.features[feature]
}

// pendingIQ is an IQ the hub sent to a client and waits to be answered.
type pendingIQ struct {
	ss     *session
	answer func(*wire.Element)
}

// expect registers what to do with the answer to the hub's IQ id to ss.
func (s *Server) expect(ss *session, id string, answer func(*wire.Element)) {
	s.pendingMu.Lock()
	s.pending[id] = pendingIQ{ss, answer}
	s.pendingMu.Unlock()
}

// answered handles a result or error addressed to the hub; answers from
// anyone but the asked session are ignored.
func (s *Server) answered(ss *session, el *wire.Element) {
	id := string(el.Value(el.ID))
	s.pendingMu.Lock()
	p, ok := s.pending[id]
	if ok && p.ss == ss {
		delete(s.pending, id)
	}
	s.pendingMu.Unlock()
	if ok && p.ss == ss {
		p.answer(el)
	}
}

// forget drops the questions a session that ended will never answer.
func (s *Server) forget(ss *session) {
	s.pendingMu.Lock()
	for id, p := range s.pending {
		if p.ss == ss {
			delete(s.pending, id)
		}
	}
	s.pendingMu.Unlock()
}
