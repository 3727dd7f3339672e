package geoloc

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/geohub/geohub/internal/store"
	"github.com/tidwall/buntdb"
)

// PutRules stores rules under the IDs they carry, replacing those that
// exist (their devices' alarm states start afresh): rules made elsewhere,
// such as on another instance of a sharded fleet (internal/component).
// Each is validated; on an error none is stored.
func (s *Store) PutRules(rules []*Rule) error {
	for _, r := range rules {
		if r.ID == "" || strings.ContainsAny(r.ID, ": ") {
			return fmt.Errorf("%s: rule ID %q: empty or with ':' or a space", r.Name, r.ID)
		}
		if err := r.Validate(); err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
	}
	if len(rules) == 0 {
		return errors.New("no rules")
	}
	now := time.Now().UTC().Truncate(time.Second)
	return s.change(func(tx *buntdb.Tx) (func(), error) {
		for _, r := range rules {
			r.Created = now
			if old := s.tm.rules[r.ID]; old != nil {
				r.Created = old.Created
				var keys []string
				store.AscendPrefix(tx, alarmPrefix, func(k, _ string) bool {
					if strings.HasSuffix(k, ":"+r.ID) {
						keys = append(keys, k)
					}
					return true
				})
				if err := store.Delete(tx, keys...); err != nil {
					return nil, err
				}
			}
		}
		return s.saveRules(tx, rules)
	}, s.reloadRules)
}
