package geoloc

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/geohub/geohub/internal/store"
	"github.com/tidwall/buntdb"
)

// Trail retention per group: grt:<group> holds a group's retention in
// nanoseconds. A device keeps its trail for the longest retention among
// its groups that have one, else for Options.Retention.
const groupRetentionPrefix = "grt:"

// loadGroupRetention reads the groups' retentions. s is not yet shared.
func (s *Store) loadGroupRetention(tx *buntdb.Tx) error {
	s.groupRetention = map[string]time.Duration{}
	var bad error
	store.AscendPrefix(tx, groupRetentionPrefix, func(k, v string) bool {
		ns, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			bad = fmt.Errorf("%s: %w", k, err)
			return false
		}
		s.groupRetention[strings.TrimPrefix(k, groupRetentionPrefix)] = time.Duration(ns)
		return true
	})
	return bad
}

// SetGroupRetention sets how long the trails of a group's devices are
// kept; 0 makes the group follow the global retention again.
func (s *Store) SetGroupRetention(group string, d time.Duration) error {
	if group == "" || d < 0 {
		return fmt.Errorf("group retention: need a group and a retention of 0 or more")
	}
	pending := s.commit.Later(func(tx *buntdb.Tx) error {
		var err error
		if d == 0 {
			_, err = tx.Delete(groupRetentionPrefix + group)
			if err == buntdb.ErrNotFound {
				err = nil
			}
		} else {
			_, _, err = tx.Set(groupRetentionPrefix+group, strconv.FormatInt(int64(d), 10), nil)
		}
		if err == nil {
			s.mu.Lock()
			if d == 0 {
				delete(s.groupRetention, group)
			} else {
				s.groupRetention[group] = d
			}
			s.mu.Unlock()
		}
		return err
	})
	if err := pending.Wait(); err != nil {
		s.mu.Lock()
		s.db.View(s.loadGroupRetention) // the batch rolled back
		s.mu.Unlock()
		return err
	}
	return nil
}

// GroupRetentions returns the groups with a retention of their own.
func (s *Store) GroupRetentions() map[string]time.Duration {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return maps.Clone(s.groupRetention)
}

// retentionFunc returns how long a device's trail is kept, from the group
// retentions as they are now, without holding s.mu when called.
func (s *Store) retentionFunc() func(device string) time.Duration {
	s.mu.RLock()
	groups, dir := maps.Clone(s.groupRetention), s.dir
	s.mu.RUnlock()
	return func(device string) time.Duration { return retentionOf(s.opt.Retention, groups, dir, device) }
}

// retentionOf is the longest retention among the device's groups that
// have one, else the global one.
func retentionOf(global time.Duration, groups map[string]time.Duration, dir Directory, device string) time.Duration {
	if len(groups) == 0 || dir == nil {
		return global
	}
	var longest time.Duration
	for _, g := range dir.GroupsOf(device) {
		longest = max(longest, groups[g])
	}
	if longest == 0 {
		return global
	}
	return longest
}

// TrailRetention is how long a device's trail is kept: its groups' longest
// retention, else the global one.
func (s *Store) TrailRetention(device string) time.Duration { return s.retentionFunc()(device) }
