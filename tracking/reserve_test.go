package tracking_test

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/tidwall/buntdb"
)

// Nobody but the hub creates a node named alerts or alerts/...: an operator
// who squats alerts/zzz before a fence with ID zzz exists would own that
// fence's alerts (open to all, purgeable, fake alerts posted). A node left
// there by an older version is reclaimed when the hub starts.
func TestAlertNodesAreReservedForTheHub(t *testing.T) {
	h := hubtest.Start(t)
	pw := h.Account(t, "squatter", devices.RoleOperator, "a")
	sq := h.Login(t, "squatter-now", devices.RoleOperator, "a")
	open := "<configure><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'>" +
		"<value>http://jabber.org/protocol/pubsub#node_config</value></field>" +
		"<field var='pubsub#access_model'><value>open</value></field></x></configure>"
	for _, node := range []string{"alerts/zzz", "alerts", "alerts/group/a"} {
		wantCondition(t, "create "+node, ps(sq, "set", "<create node='"+node+"'/>"+open), "conflict")
	}
	wantResult(t, "create another name", ps(sq, "set", "<create node='zzz-open'/>"+open))

	// What an older version let happen: the squatter's open node, with a
	// fake alert, stored as alerts/zzz.
	sq.Send("<presence/>")
	wantResult(t, "fake alert", ps(sq, "set", "<publish node='zzz-open'><item id='fake'><alert xmlns='urn:geohub:alert:0' event='enter'/></item></publish>"))
	err := h.DB.Update(func(tx *buntdb.Tx) error {
		for _, key := range []string{"ps:n:pubsub.localhost:", "ps:i:pubsub.localhost:"} {
			var moves [][2]string
			tx.AscendKeys(key+"zzz-open*", func(k, v string) bool {
				moves = append(moves, [2]string{key + url.QueryEscape("alerts/zzz") + k[len(key+"zzz-open"):], v})
				return true
			})
			for _, m := range moves {
				v := m[1]
				if key == "ps:n:pubsub.localhost:" {
					var rec map[string]any
					json.Unmarshal([]byte(v), &rec)
					rec["name"] = "alerts/zzz"
					b, _ := json.Marshal(rec)
					v = string(b)
				}
				if _, _, err := tx.Set(m[0], v, nil); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	h = hubtest.Restart(t, h)
	other := h.Login(t, "other", devices.RoleOperator, "b")
	wantCondition(t, "the squatted node after the restart", ps(other, "get", "<items node='alerts/zzz'/>"), "item-not-found")
	// The fence zzz gets a node of the hub's, closed to both.
	addFence(t, h.Geo, `{"type":"Feature","id":"zzz","properties":{"name":"Z","radius":100,"groups":["b"],"events":["enter"]},
		"geometry":{"type":"Point","coordinates":[13.40,52.51]}}`)
	sq = xmpptestDial(t, h, "squatter", pw)
	wantCondition(t, "the squatter reads the fence's node", ps(sq, "get", "<items node='alerts/zzz'/>"), "not-allowed")
	wantCondition(t, "the squatter posts a fake alert", ps(sq, "set", "<publish node='alerts/zzz'><item id='fake'><alert xmlns='urn:geohub:alert:0' event='enter'/></item></publish>"), "forbidden")
	wantCondition(t, "the squatter purges it", sq.IQ("<iq type='set' id='ID' to='pubsub.localhost'><pubsub xmlns='"+nsPubSub+"#owner'><purge node='alerts/zzz'/></pubsub></iq>"), "forbidden")
}
