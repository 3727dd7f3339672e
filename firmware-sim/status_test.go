package firmwaresim

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// exampleSnapshot is the run of RunStatus's documentation.
func exampleSnapshot() Snapshot {
	return Snapshot{
		Time:            time.Date(2026, 7, 1, 12, 1, 30, 0, time.UTC),
		Elapsed:         90 * time.Second,
		Interval:        time.Second,
		Devices:         1000,
		Connected:       842,
		ConnectedPeak:   990,
		Sent:            351900,
		SentPerSec:      3910.2,
		Acked:           350000,
		AckWindow:       Latency{Count: 3900, P50: 1200 * time.Microsecond, P99: 6800 * time.Microsecond},
		Ack:             Latency{Count: 350000, P50: 1100 * time.Microsecond, P99: 12 * time.Millisecond},
		Errors:          3,
		Reconnects:      12,
		RefusedExpected: 40,
	}
}

func TestStatusLine(t *testing.T) {
	s := exampleSnapshot()
	const want = "  842/1000 connected   3,910 fixes/s   ack p50 1.2 ms p99 6.8 ms   errors 3   reconnects 12   refused 40/40"
	if got := fitWidth(statusSegments(s, false), 200); got != want {
		t.Errorf("status line:\n got %q\nwant %q", got, want)
	}

	// The final line has the averages of the whole run.
	const final = "  done: 842/1000 connected (peak 990)   3,910 fixes/s   ack p50 1.1 ms p99 12.0 ms   errors 3   reconnects 12   refused 40/40"
	if got := fitWidth(statusSegments(s, true), 200); got != final {
		t.Errorf("final line:\n got %q\nwant %q", got, final)
	}

	// Segments that are zero are left out; those that are not come after.
	s.AcceptedInvalid = 2
	s.RefusedUnexpected = 1
	s.Notified = 10
	s.NotifyWindow = Latency{Count: 10, P50: 15 * time.Millisecond, P99: 250 * time.Millisecond}
	s.Paused = 5
	s.Queued = 1234
	s.Drops = 7
	const full = "  842/1000 connected   3,910 fixes/s   ack p50 1.2 ms p99 6.8 ms   errors 3   ACCEPTED INVALID 2   reconnects 12   refused 40/41   notify p50 15.0 ms p99 250 ms   paused 5   queued 1,234   drops 7"
	if got := fitWidth(statusSegments(s, false), 1000); got != full {
		t.Errorf("full line:\n got %q\nwant %q", got, full)
	}

	// No ack yet.
	var empty Snapshot
	if got := fitWidth(statusSegments(empty, false), 200); got != "  0/0 connected   0 fixes/s   ack -   errors 0   reconnects 0   refused 0/0" {
		t.Errorf("empty line: %q", got)
	}
}

func TestStatusLineWidth(t *testing.T) {
	segs := statusSegments(exampleSnapshot(), false)
	for _, tc := range []struct {
		width int
		want  string
	}{
		// Whole segments only, in at most width-1 columns.
		{80, "  842/1000 connected   3,910 fixes/s   ack p50 1.2 ms p99 6.8 ms   errors 3"},
		{76, "  842/1000 connected   3,910 fixes/s   ack p50 1.2 ms p99 6.8 ms   errors 3"},
		{75, "  842/1000 connected   3,910 fixes/s   ack p50 1.2 ms p99 6.8 ms"},
		{40, "  842/1000 connected   3,910 fixes/s"},
		{21, "  842/1000 connected"},
		// Even the first segment does not fit: it is cut.
		{12, "  842/1000 "},
		{1, ""},
		// An unknown width counts as 80.
		{0, "  842/1000 connected   3,910 fixes/s   ack p50 1.2 ms p99 6.8 ms   errors 3"},
	} {
		got := fitWidth(segs, tc.width)
		if got != tc.want {
			t.Errorf("width %d:\n got %q\nwant %q", tc.width, got, tc.want)
		}
		if tc.width > 0 && utf8.RuneCountInString(got) > tc.width-1 {
			t.Errorf("width %d: line has %d columns", tc.width, utf8.RuneCountInString(got))
		}
	}
	if got := truncateRunes("µµµµ", 2); got != "µµ" {
		t.Errorf("truncateRunes cut inside a rune: %q", got)
	}
}

func TestPlainLine(t *testing.T) {
	s := exampleSnapshot()
	s.Drops = 7
	got := plainLine(s, false)
	const want = "2026-07-01T12:01:30Z +1m30s   842/1000 connected   3,910 fixes/s   ack p50 1.2 ms p99 6.8 ms   errors 3   reconnects 12   refused 40/40   drops 7"
	if got != want {
		t.Errorf("plain line:\n got %q\nwant %q", got, want)
	}
	if got := plainLine(s, true); !strings.HasPrefix(got, "2026-07-01T12:01:30Z +1m30s   done: 842/1000 connected (peak 990)   3,910 fixes/s") {
		t.Errorf("final plain line: %q", got)
	}
}

func TestFormatting(t *testing.T) {
	for n, want := range map[uint64]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 12345: "12,345", 1234567: "1,234,567", 100000000: "100,000,000"} {
		if got := formatCount(n); got != want {
			t.Errorf("formatCount(%d) = %q, want %q", n, got, want)
		}
	}
	for r, want := range map[float64]string{0: "0", 0.25: "0.2", 0.5: "0.5", 9.94: "9.9", 9.96: "10", 3910.6: "3,911"} {
		if got := formatRate(r); got != want {
			t.Errorf("formatRate(%v) = %q, want %q", r, got, want)
		}
	}
	for d, want := range map[time.Duration]string{
		0:                        "0.00 ms",
		350 * time.Microsecond:   "0.35 ms",
		1234 * time.Microsecond:  "1.2 ms",
		45670 * time.Microsecond: "45.7 ms",
		250 * time.Millisecond:   "250 ms",
		9999 * time.Millisecond:  "9999 ms",
		12345 * time.Millisecond: "12.3 s",
		5 * time.Minute:          "300.0 s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// lockedBuffer is a bytes.Buffer that RunStatus can write while the test
// reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// pollUntil polls cond until it holds, failing the test after 10 s.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

var plainLineRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \+\S+   (done: )?\d+/3 connected( \(peak \d+\))?   .* fixes/s   ack .*   errors \d+   reconnects \d+   refused \d+/\d+`)

func TestRunStatusPlain(t *testing.T) {
	stats := NewStats(3)
	stats.Connected()
	var out lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		// A bytes.Buffer-like writer is not a terminal: plain lines.
		RunStatus(ctx, &out, stats, 5*time.Millisecond)
		close(done)
	}()
	pollUntil(t, "two status lines", func() bool { return strings.Count(out.String(), "\n") >= 2 })
	stats.Sent()
	cancel()
	<-done

	text := out.String()
	if strings.ContainsAny(text, "\r\x1b") {
		t.Errorf("plain output has terminal controls: %q", text)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	for _, l := range lines {
		if !plainLineRE.MatchString(l) {
			t.Errorf("line does not look like a status line: %q", l)
		}
	}
	last := lines[len(lines)-1]
	if !strings.Contains(last, "   done: 1/3 connected (peak 1)") || !strings.HasSuffix(text, "\n") {
		t.Errorf("final line %q", last)
	}
	for _, l := range lines[:len(lines)-1] {
		if strings.Contains(l, "done:") {
			t.Errorf("a line before the last says done: %q", l)
		}
	}
}

// TestRunStatusPipe checks that an *os.File that is not a terminal gets
// plain lines.
func TestRunStatusPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	RunStatus(ctx, w, NewStats(3), time.Hour)
	w.Close()
	var buf bytes.Buffer
	buf.ReadFrom(r)
	if got := buf.String(); !plainLineRE.MatchString(got) || !strings.HasSuffix(got, "\n") || strings.Count(got, "\n") != 1 {
		t.Errorf("pipe output %q, want one plain final line", got)
	}
}

func TestRunStatusTerminal(t *testing.T) {
	stats := NewStats(1000)
	for range 842 {
		stats.Connected()
	}
	for range 5 {
		stats.Error("dial")
	}
	var out lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	const width = 60
	go func() {
		runStatus(ctx, &out, stats, 5*time.Millisecond, func() int { return width })
		close(done)
	}()
	pollUntil(t, "three redraws", func() bool { return strings.Count(out.String(), "\r") >= 3 })
	cancel()
	<-done

	text := out.String()
	if strings.Count(text, "\n") != 1 || !strings.HasSuffix(text, "\x1b[K\n") {
		t.Fatalf("terminal output should redraw one line and end with a newline: %q", text)
	}
	frames := strings.Split(strings.TrimSuffix(text, "\n"), "\r")
	if frames[0] != "" {
		t.Errorf("output does not start with a carriage return: %q", text)
	}
	for _, f := range frames[1:] {
		line, ok := strings.CutSuffix(f, "\x1b[K")
		if !ok {
			t.Errorf("frame does not clear to the end of the line: %q", f)
		}
		if n := utf8.RuneCountInString(line); n > width-1 {
			t.Errorf("frame is %d columns wide, more than %d: %q", n, width-1, line)
		}
		if !strings.HasPrefix(line, "  842/1000 connected") && !strings.HasPrefix(line, "  done: 842/1000 connected") {
			t.Errorf("frame %q", line)
		}
	}
	if last := frames[len(frames)-1]; !strings.HasPrefix(last, "  done: 842/1000 connected (peak 842)") {
		t.Errorf("final frame %q", last)
	}
}
