package hub

import (
	"testing"
	"time"
)

// A refusal repeated by the thousand is logged once a period, with the
// number left out.
func TestLogSampleLogsOncePerPeriod(t *testing.T) {
	l := logSample{period: time.Second}
	t0 := time.Now()
	if n, ok := l.due(t0); !ok || n != 0 {
		t.Fatalf("first event: %d %v", n, ok)
	}
	for i := range 999 {
		if _, ok := l.due(t0.Add(time.Duration(i) * time.Millisecond)); ok {
			t.Fatalf("event %d within the period was logged", i)
		}
	}
	if n, ok := l.due(t0.Add(time.Second)); !ok || n != 999 {
		t.Errorf("after the period: %d %v, want 999 true", n, ok)
	}
}
