package store

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tidwall/buntdb"
)

// Write changes the database inside a batch transaction. It should fail only
// on internal errors: checks belong before Submit, because one failing write
// rolls back the whole batch.
type Write func(tx *buntdb.Tx) error

// Committer is the one writer for high-rate data: it gathers the writes
// submitted while the previous batch was syncing into one transaction, syncs
// once, then reports to each submitter in order. That is how every
// acknowledged write is durable without a sync per write (group commit).
type Committer struct {
	db   *buntdb.DB
	mu   sync.Mutex
	cond *sync.Cond
	next []op
	busy []op
	done bool
	wg   sync.WaitGroup
	// batchObs are told of each batch committed (OnBatch); guarded by mu.
	batchObs []func(writes int, took time.Duration)

	unwritable atomic.Uint64 // writes refused for want of disk (ErrUnwritable)
	log        *slog.Logger  // nil: not logged
	logged     time.Time     // the last "cannot write" line; the writer goroutine's
}

// ErrUnwritable is wrapped in the error of a write that failed because the
// data folder's disk is full or cannot be written. Nothing of the batch is
// kept, and later writes succeed once space returns: callers answer
// resource-constraint (XMPP) or 507 (HTTP).
var ErrUnwritable = errors.New("the hub cannot store anything now: its disk is full or cannot be written")

// unwritable wraps err with ErrUnwritable when the disk is the cause.
func unwritable(err error) error {
	for _, e := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT, syscall.EROFS, syscall.EIO} {
		if errors.Is(err, e) {
			return fmt.Errorf("%w (%w)", ErrUnwritable, err)
		}
	}
	return err
}

// SetLogger makes the committer log refused writes, at most every 10 s.
// Call it before submitting.
func (c *Committer) SetLogger(log *slog.Logger) { c.log = log }

// Unwritable is the number of writes refused for want of disk since start.
func (c *Committer) Unwritable() uint64 { return c.unwritable.Load() }

type op struct {
	write Write
	then  func(error)
}

// maxBatch bounds one transaction, so that one batch cannot hold the database
// lock for long.
const maxBatch = 4096

// NewCommitter starts the writer goroutine.
func NewCommitter(db *buntdb.DB) *Committer {
	c := &Committer{db: db}
	c.cond = sync.NewCond(&c.mu)
	c.wg.Go(c.run)
	return c
}

// Submit queues write; then is called with nil once the write is durable, or
// with the error that rolled its batch back. then runs on the writer
// goroutine and must be quick: queue replies, do not block.
func (c *Committer) Submit(write Write, then func(error)) {
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		if then != nil {
			then(ErrClosed)
		}
		return
	}
	c.next = append(c.next, op{write, then})
	c.mu.Unlock()
	c.cond.Signal()
}

// Pending is a write submitted with Later: Wait reports its outcome.
type Pending chan error

// Later submits write and returns at once: for writes made by people
// (rosters, blocklists, fences, rules) rather than the high-rate flow. The
// caller waits with Wait after releasing the locks it staged the change
// under, so that no shared lock is held across a sync. Submissions are committed in the order they
// were made, so a change staged under a lock is ordered like the lock.
func (c *Committer) Later(write Write) Pending {
	done := make(Pending, 1)
	c.Submit(write, func(err error) { done <- err })
	return done
}

// Wait blocks until the write is durable or failed.
func (p Pending) Wait() error { return <-p }

// Queued is the number of writes submitted and not yet in a batch.
func (c *Committer) Queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.next)
}

func (c *Committer) run() {
	for {
		c.mu.Lock()
		for len(c.next) == 0 && !c.done {
			c.cond.Wait()
		}
		if len(c.next) == 0 {
			c.mu.Unlock()
			return
		}
		n := min(len(c.next), maxBatch)
		c.busy = append(c.busy[:0], c.next[:n]...)
		c.next = append(c.next[:0], c.next[n:]...)
		obs := c.batchObs
		c.mu.Unlock()

		start := time.Now()
		err := c.db.Update(func(tx *buntdb.Tx) error {
			for _, o := range c.busy {
				if o.write == nil {
					continue
				}
				if err := o.write(tx); err != nil {
					return err
				}
			}
			return nil
		})
		took := time.Since(start)
		if err != nil {
			err = unwritable(err)
			if errors.Is(err, ErrUnwritable) {
				c.unwritable.Add(uint64(n))
				if c.log != nil && time.Since(c.logged) >= 10*time.Second {
					c.logged = time.Now()
					c.log.Error("writes refused", "err", err, "refused_since_start", c.unwritable.Load())
				}
			}
		}
		for _, fn := range obs {
			fn(n, took)
		}
		for i, o := range c.busy {
			if o.then != nil {
				o.then(err)
			}
			c.busy[i] = op{}
		}
	}
}

// OnBatch adds fn, told after each batch how many writes it held and how
// long its transaction took, sync included: the ingest latency /metrics
// shows. fn runs on the writer goroutine before the submitters hear of the
// outcome, so it must be quick.
func (c *Committer) OnBatch(fn func(writes int, took time.Duration)) {
	c.mu.Lock()
	c.batchObs = append(c.batchObs[:len(c.batchObs):len(c.batchObs)], fn)
	c.mu.Unlock()
}

// Close commits what is queued and stops the writer. Later submissions fail
// with ErrClosed.
func (c *Committer) Close() {
	c.mu.Lock()
	c.done = true
	c.mu.Unlock()
	c.cond.Broadcast()
	c.wg.Wait()
}
