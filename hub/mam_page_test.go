package hub

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/geohub/geohub/internal/xmlnode"
)

// fakeHistory is a node's past held in a slice, counting what it is asked
// to read.
type fakeHistory struct {
	times []int64 // sorted
	read  int     // items returned so far
}

func (f *fakeHistory) Between(_ string, from, to time.Time) []HistoryItem {
	var out []HistoryItem
	for _, t := range f.times {
		if t >= from.UnixNano() && t <= to.UnixNano() {
			out = append(out, HistoryItem{Time: time.Unix(0, t)})
		}
	}
	f.read += len(out)
	return out
}

func (f *fakeHistory) Bounds(string) (from, to time.Time, ok bool) {
	if len(f.times) == 0 {
		return time.Time{}, time.Time{}, false
	}
	return time.Unix(0, f.times[0]), time.Unix(0, f.times[len(f.times)-1]), true
}

// TestHistoryPageMatchesAScan checks the time-window paging against a plain
// scan, on trails that are dense, sparse, bursty or empty, with open and
// closed ranges, both ways.
func TestHistoryPageMatchesAScan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	now := time.Now().UnixNano()
	for round := range 400 {
		var times []int64
		n := r.IntN(300)
		gap := []int64{int64(time.Millisecond), int64(time.Second), int64(time.Hour), int64(30 * 24 * time.Hour)}[r.IntN(4)]
		t0 := now - int64(n)*gap
		for i := range n {
			t0 += 1 + r.Int64N(gap)
			if r.IntN(10) == 0 {
				t0 += r.Int64N(int64(365 * 24 * time.Hour)) // a long pause
			}
			_ = i
			times = append(times, t0)
		}
		h := &fakeHistory{times: times}
		lo, hi := int64(0), int64(math.MaxInt64)
		if n > 0 && r.IntN(2) == 0 {
			lo = times[r.IntN(n)]
		}
		if n > 0 && r.IntN(2) == 0 {
			hi = times[r.IntN(n)] + r.Int64N(2)
		}
		max := r.IntN(60)
		backward := r.IntN(2) == 0
		var want []int64
		for _, t := range times {
			if t >= lo && t <= hi {
				want = append(want, t)
			}
		}
		wantMore := len(want) > max
		if wantMore {
			if backward {
				want = want[len(want)-max:]
			} else {
				want = want[:max]
			}
		}
		page, more := historyPage(h, "x", lo, hi, max, backward)
		var got []int64
		for _, it := range page {
			got = append(got, it.Time.UnixNano())
		}
		if !slices.Equal(got, want) || more != wantMore {
			t.Fatalf("round %d (n=%d gap=%v lo=%d hi=%d max=%d backward=%v): got %d more=%v, want %d more=%v",
				round, n, time.Duration(gap), lo, hi, max, backward, len(got), more, len(want), wantMore)
		}
	}
}

// TestHistoryPageReadsAboutAPage: a page of 100 from a dense trail of
// 100,000, the range's open end bounded by the history's Bounds, reads a
// few hundred points, not the trail.
func TestHistoryPageReadsAboutAPage(t *testing.T) {
	now := time.Now().UnixNano()
	h := &fakeHistory{}
	for i := range 100_000 {
		h.times = append(h.times, now-int64(100_000-i)*int64(5*time.Second))
	}
	for _, backward := range []bool{false, true} {
		h.read = 0
		_, last, _ := h.Bounds("x") // as nodeHistoryQuery bounds an open end
		page, more := historyPage(h, "x", h.times[40_000], last.UnixNano(), 100, backward)
		if len(page) != 100 || !more || h.read > 1000 {
			t.Errorf("backward=%v: %d items, more=%v, %d read", backward, len(page), more, h.read)
		}
	}
}

// FuzzMAMQuery: any query element is read or refused with a reason, never
// a panic.
func FuzzMAMQuery(f *testing.F) {
	for _, s := range []string{
		"<query xmlns='urn:xmpp:mam:2' queryid='q'><x xmlns='jabber:x:data' type='submit'><field var='with'><value>a@b</value></field></x><set xmlns='http://jabber.org/protocol/rsm'><max>10</max><before/></set></query>",
		"<query xmlns='urn:xmpp:mam:2' node='n'><x xmlns='jabber:x:data' type='submit'><field var='ids'><value>1</value><value>2</value></field><field var='start'><value>2020-01-01T00:00:00Z</value></field></x><flip-page/></query>",
		"<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><after>x</after><index>1</index></set></query>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := xmlnode.Parse(b, nsMAM)
		if err != nil {
			return
		}
		q, err := parseMAMQuery(n)
		if err != nil {
			if me, ok := err.(mamError); !ok || me.e.text == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if q.max < 0 || q.max > mamMaxPage || q.start > q.end {
			t.Fatalf("query out of bounds: %+v", q)
		}
	})
}
