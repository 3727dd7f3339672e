package mqttbridge

import (
	"sync"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// resumeStore is paho's in-memory store, watched so that the bridge
// publishes nothing while paho resumes a persistent session.
//
// After each connect, paho lists its store and sends again what it holds
// (resume). A QoS 1 or 2 message published between the moment the
// connection is up and that listing is sent twice, once by Publish and
// once by resume, which also sets the DUP flag of the packet the writer
// may be encoding at that moment: a data race inside paho
// (eclipse-paho/paho.mqtt.golang#703, open in v1.5.1). onConnect, which
// paho starts before resuming, would publish the hub's status right in
// that window. So the bridge waits for the listing: paho calls the
// connection-attempt handler before each attempt, and lists the store once
// after the attempt that succeeds (or, at the first connect of a clean
// session, empties it).
type resumeStore struct {
	*mqtt.MemoryStore
	mu       sync.Mutex
	attempts uint64        // connection attempts begun
	listed   uint64        // the attempt after which the store was last listed
	changed  chan struct{} // closed and replaced at each change
}

func newResumeStore() *resumeStore {
	return &resumeStore{MemoryStore: mqtt.NewMemoryStore(), changed: make(chan struct{})}
}

func (s *resumeStore) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// attempt records a connection attempt; paho calls it (through the
// connection-attempt handler) before dialing, on its connecting goroutine.
func (s *resumeStore) attempt() {
	s.mu.Lock()
	s.attempts++
	s.notify()
	s.mu.Unlock()
}

// All lists the store, as paho does when it resumes a session.
func (s *resumeStore) All() []string {
	keys := s.MemoryStore.All()
	s.mu.Lock()
	s.listed = s.attempts
	s.notify()
	s.mu.Unlock()
	return keys
}

// Reset empties the store, as paho does instead of resuming after the
// first connect of a clean session.
func (s *resumeStore) Reset() {
	s.MemoryStore.Reset()
	s.mu.Lock()
	s.listed = s.attempts
	s.notify()
	s.mu.Unlock()
}

// waitResumed waits until paho has resumed the session of the latest
// connection attempt, which is the one onConnect runs for, and returns
// that attempt's number. It returns false when stop closes or another
// attempt begins first (that connection was lost; the next one's
// onConnect takes over).
func (s *resumeStore) waitResumed(stop <-chan struct{}) (uint64, bool) {
	s.mu.Lock()
	attempt := s.attempts
	for {
		switch {
		case s.listed >= attempt:
			s.mu.Unlock()
			return attempt, true
		case s.attempts != attempt:
			s.mu.Unlock()
			return attempt, false
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-stop:
			return attempt, false
		}
		s.mu.Lock()
	}
}

// current reports whether attempt is still the latest connection attempt.
func (s *resumeStore) current(attempt uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts == attempt
}
