package history

import (
	"container/list"
	"sync"
)

// cache keeps decoded blocks, least recently used first out, within a byte
// budget: the live map's trails and replay read the same recent blocks
// again and again.
//
// A reader that decoded a block from a transaction that began before a
// write changed that block must not put the stale copy in: every
// invalidation bumps gen, and put refuses a block read under an older gen.
type cache struct {
	mu     sync.Mutex
	budget int
	used   int
	gen    uint64
	order  *list.List // of *cacheEntry, most recent first
	byKey  map[cacheKey]*list.Element
}

type cacheKey struct {
	device string
	start  int64
}

type cacheEntry struct {
	key cacheKey
	pts *Columns
}

func newCache(budget int) *cache {
	return &cache{budget: budget, order: list.New(), byKey: map[cacheKey]*list.Element{}}
}

// generation is what a reader notes before it opens its transaction.
func (c *cache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// enabled reports whether blocks are kept at all.
func (c *cache) enabled() bool { return c.budget > 0 }

// get returns a decoded block; it is shared and must not change.
func (c *cache) get(k cacheKey) (*Columns, bool) {
	if c.budget <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[k]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*cacheEntry).pts, true
}

// put keeps a block decoded by a reader that noted gen.
func (c *cache) put(gen uint64, k cacheKey, pts *Columns) {
	size := pts.Len() * columnsPointSize
	if size > c.budget {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if e, ok := c.byKey[k]; ok {
		c.remove(e)
	}
	c.byKey[k] = c.order.PushFront(&cacheEntry{k, pts})
	c.used += size
	for c.used > c.budget {
		c.remove(c.order.Back())
	}
}

func (c *cache) remove(e *list.Element) {
	ent := c.order.Remove(e).(*cacheEntry)
	delete(c.byKey, ent.key)
	c.used -= ent.pts.Len() * columnsPointSize
}

// invalidate drops blocks that a committed write changed or deleted.
func (c *cache) invalidate(keys []cacheKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, k := range keys {
		if e, ok := c.byKey[k]; ok {
			c.remove(e)
		}
	}
}

// invalidateDevice drops every block of a device.
func (c *cache) invalidateDevice(device string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.byKey {
		if k.device == device {
			c.remove(e)
		}
	}
}
