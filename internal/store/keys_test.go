package store

import (
	"fmt"
	"math"
	"testing"
)

func TestAppendPaddedIsPercentZeroD(t *testing.T) {
	for _, n := range []uint64{0, 7, 1_765_000_000_123_456_789, math.MaxInt64, math.MaxUint64} {
		if got, want := string(AppendPadded([]byte("k:"), n, 20)), fmt.Sprintf("k:%020d", n); got != want {
			t.Errorf("AppendPadded(%d, 20) = %q, want %q", n, got, want)
		}
	}
	if got, want := string(AppendPadded(nil, math.MaxInt64, 19)), fmt.Sprintf("%019d", int64(math.MaxInt64)); got != want {
		t.Errorf("19 digits: %q, want %q", got, want)
	}
}
