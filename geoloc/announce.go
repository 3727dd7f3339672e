package geoloc

import (
	"sync"

	"github.com/tidwall/buntdb"
)

// announcer tells watchers of fence and rule changes in the order they
// were committed, and off the writer goroutine: a commit's completion only
// queues the telling (add), and the caller that made the change tells what
// is queued (tell) once its write is durable, before it returns.
type announcer struct {
	mu      sync.Mutex // guards queue
	queue   []func()
	telling sync.Mutex // one teller at a time, so that the order holds
}

// add queues fn; it runs on the writer goroutine, so it only queues.
func (a *announcer) add(fn func()) {
	a.mu.Lock()
	a.queue = append(a.queue, fn)
	a.mu.Unlock()
}

// tell runs what is queued, in order. A change added before tell was
// called has been told when it returns, by this caller or another.
func (a *announcer) tell() {
	a.telling.Lock()
	defer a.telling.Unlock()
	for {
		a.mu.Lock()
		if len(a.queue) == 0 {
			a.mu.Unlock()
			return
		}
		fn := a.queue[0]
		a.queue = a.queue[1:]
		a.mu.Unlock()
		fn()
	}
}

// refusal is a change refused inside its write, before writing anything:
// it is the caller's error and must not roll back the batch it is in.
type refusal struct{ error }

// change makes a fence or rule change in the committer's transaction, with
// s.mu held (after the database's lock, as for fixes), so that it takes
// its place in one order with the fixes judged against it. write returns
// what to tell the watchers once the change is durable, or a refusal. When
// the batch rolls back, undo makes memory what the database holds.
func (s *Store) change(write func(tx *buntdb.Tx) (tell func(), err error), undo func()) error {
	var refused error
	var tell func()
	done := make(chan error, 1)
	s.commit.Submit(func(tx *buntdb.Tx) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		var err error
		tell, err = write(tx)
		if r, ok := err.(refusal); ok {
			refused, tell = r.error, nil
			return nil
		}
		return err
	}, func(err error) {
		if err == nil && tell != nil {
			s.told.add(tell)
		}
		done <- err
	})
	if err := <-done; err != nil {
		undo()
		return err
	}
	s.told.tell()
	return refused
}
