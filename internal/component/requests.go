package component

import (
	"context"
	"strconv"
	"sync"

	"github.com/geohub/geohub/internal/xmlnode"
)

// requests are the IQs a link sent and waits for the answers of.
type requests struct {
	mu      sync.Mutex
	n       uint64
	waiting map[string]chan *xmlnode.Node
}

// call sends the IQ that build makes with a fresh id and returns the
// answer (a result or an error IQ), or ctx's error.
func (r *requests) call(ctx context.Context, l *Link, build func(id string) []byte) (*xmlnode.Node, error) {
	ch := make(chan *xmlnode.Node, 1)
	r.mu.Lock()
	r.n++
	id := "gh" + strconv.FormatUint(r.n, 36)
	if r.waiting == nil {
		r.waiting = map[string]chan *xmlnode.Node{}
	}
	r.waiting[id] = ch
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.waiting, id)
		r.mu.Unlock()
	}()
	if !l.Send(build(id)) {
		return nil, l.Ready()
	}
	select {
	case el := <-ch:
		return el, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// answer hands an IQ result or error to the call waiting for it; it
// reports false when none is.
func (r *requests) answer(el *xmlnode.Node) bool {
	r.mu.Lock()
	ch := r.waiting[el.Attr("id")]
	r.mu.Unlock()
	if ch == nil {
		return false
	}
	select {
	case ch <- el:
	default:
	}
	return true
}

// iqFailed is the error an IQ error answer stands for.
func iqFailed(el *xmlnode.Node) error {
	cond := "undefined-condition"
	if e := el.Child(NS, "error"); e != nil && len(e.Children) > 0 {
		cond = e.Children[0].Local
	}
	return &IQError{Condition: cond}
}

// IQError is an error answer from the upstream or a peer.
type IQError struct{ Condition string }

func (e *IQError) Error() string { return "answered with " + e.Condition }
