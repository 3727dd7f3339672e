package component

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/geohub/geohub/internal/xmlnode"
)

// Payloads of the shared configuration's items: a fence as its GeoJSON
// Feature, a rule as its JSON, each as text, without the time it was
// created, which each instance keeps for itself.
const (
	NSFence = "urn:geohub:fence:0"
	NSRule  = "urn:geohub:rule:0"
)

// sharedKind is what the shared configuration knows of fences or rules.
type sharedKind struct {
	// read reads an item's payload: as this instance writes it, and the
	// function that stores it.
	read func(id string, p *xmlnode.Node) (string, func(*geoloc.Store) error, error)
	// current is the payload of what this instance holds under id, or "".
	current func(g *geoloc.Store, id string) string
	remove  func(g *geoloc.Store, id string) error
}

var kinds = map[string]*sharedKind{
	"fence": {
		read: func(id string, p *xmlnode.Node) (string, func(*geoloc.Store) error, error) {
			if p.Space != NSFence || p.Local != "fence" {
				return "", nil, errors.New("not a fence")
			}
			fs, err := geoloc.ParseFences([]byte(p.Text))
			if err != nil || len(fs) != 1 || fs[0].ID != id {
				return "", nil, fmt.Errorf("not the one fence %s: %v", id, err)
			}
			return fencePayload(fs[0], false), func(g *geoloc.Store) error { _, err := g.AddFences(fs, nil); return err }, nil
		},
		current: func(g *geoloc.Store, id string) string {
			if f, ok := g.Fence(id); ok {
				return fencePayload(f, false)
			}
			return ""
		},
		remove: func(g *geoloc.Store, id string) error {
			if err := g.RemoveFence(id); err != nil && !errors.Is(err, geoloc.ErrNoFence) {
				return err
			}
			return nil
		},
	},
	"rule": {
		read: func(id string, p *xmlnode.Node) (string, func(*geoloc.Store) error, error) {
			var r geoloc.Rule
			if p.Space != NSRule || p.Local != "rule" || json.Unmarshal([]byte(p.Text), &r) != nil || r.ID != id {
				return "", nil, fmt.Errorf("not the rule %s", id)
			}
			if err := r.Validate(); err != nil {
				return "", nil, err
			}
			return rulePayload(&r, false), func(g *geoloc.Store) error { return g.PutRules([]*geoloc.Rule{&r}) }, nil
		},
		current: func(g *geoloc.Store, id string) string {
			for _, r := range g.Rules() {
				if r.ID == id {
					return rulePayload(r, false)
				}
			}
			return ""
		},
		remove: func(g *geoloc.Store, id string) error {
			if err := g.RemoveRule(id); err != nil && !errors.Is(err, geoloc.ErrNoRule) {
				return err
			}
			return nil
		},
	},
}

func fenceItem(id string) string { return "fence/" + id }
func ruleItem(id string) string  { return "rule/" + id }

func fencePayload(f *geoloc.Fence, removed bool) string {
	if removed {
		return ""
	}
	feat := f.Feature()
	delete(feat.Properties, "created")
	b, _ := json.Marshal(feat)
	return textElement("fence", NSFence, b)
}

func rulePayload(r *geoloc.Rule, removed bool) string {
	if removed {
		return ""
	}
	b, _ := json.Marshal(struct {
		geoloc.Rule
		Created *struct{} `json:"created,omitempty"` // hides the rule's
	}{Rule: *r})
	return textElement("rule", NSRule, b)
}

func textElement(name, ns string, text []byte) string {
	return string(xmlesc.Text([]byte("<"+name+" xmlns='"+ns+"'>"), string(text))) + "</" + name + ">"
}

// localItems are every fence and rule this instance holds, as items.
func localItems(g *geoloc.Store) map[string]string {
	out := map[string]string{}
	for _, f := range g.Fences() {
		out[fenceItem(f.ID)] = fencePayload(f, false)
	}
	for _, r := range g.Rules() {
		out[ruleItem(r.ID)] = rulePayload(r, false)
	}
	return out
}
