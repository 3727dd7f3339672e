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

	// window is how long the writer may hold a small batch open for more
	// writes (SetWindow); first is when the oldest queued write came,
	// ready when the writer last finished a batch.
	window       time.Duration
	first, ready time.Time

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

// windowFull is the batch size at which the writer stops waiting for more:
// from there a sync costs each write little.
const windowFull = 64

// SetWindow lets the writer hold a batch of fewer than windowFull writes
// open until its oldest write has waited d, so that at a few thousand
// writes a second several share one sync (whose CPU cost, in the kernel,
// is the same for one write or many). It does so only while writes keep
// coming (the first of the batch came before, or within d after, the
// previous batch was done): a lone write is not held. It adds up to d to
// the latency of a write.
func (c *Committer) SetWindow(d time.Duration) {
	c.mu.Lock()
	c.window = d
	c.mu.Unlock()
}

// DefaultWindow is the commit window (SetWindow) of a new Committer: at
// 2,000 writes/s it lets two or three share a sync, and it is short next to
// the 10 ms a device may wait for its acknowledgement.
const DefaultWindow = time.Millisecond

// NewCommitter starts the writer goroutine, with DefaultWindow.
func NewCommitter(db *buntdb.DB) *Committer {
	c := &Committer{db: db, window: DefaultWindow}
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
	if len(c.next) == 0 && c.window > 0 {
		c.first = time.Now()
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
		c.ready = time.Now()
		for len(c.next) == 0 && !c.done {
			c.cond.Wait()
		}
		if len(c.next) == 0 {
			c.mu.Unlock()
			return
		}
		if wait := c.window - time.Since(c.first); wait > 0 && len(c.next) < windowFull && c.first.Sub(c.ready) < c.window && !c.done {
			c.mu.Unlock()
			time.Sleep(wait)
			c.mu.Lock()
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
