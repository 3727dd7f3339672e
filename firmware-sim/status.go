package firmwaresim

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/term"
)

// RunStatus reports stats on w until ctx ends, then writes a final line,
// starting "done:", with the averages and percentiles of the whole run.
//
// When w is a terminal (an *os.File for which term.IsTerminal is true) it
// draws one status line at once and redraws it in place every second (or
// every `every` if that is shorter), cut to the terminal's width so that it never wraps, and ends
// with a newline; nothing else should write to that terminal meanwhile.
// Otherwise it writes a plain line every `every` (10 s if every <= 0),
// starting with an RFC 3339 timestamp and the time since the start, for logs.
//
// A line reads, for example,
//
//	842/1000 connected   3,910 fixes/s   ack p50 1.2 ms p99 6.8 ms   errors 3   reconnects 12   refused 40/40
//
// where rates and percentiles cover the time since the previous line
// ("ack -" when there was no ack), errors and reconnects are totals, and
// "refused E/T" counts the expected refusals E (of invalid fixes sent on
// purpose) among all T refusals. Segments that are not zero are added:
// "ACCEPTED INVALID n" (a hub bug), notification latency, paused devices,
// queued fixes, drops.
//
// RunStatus takes Snapshots of stats, so nothing else should. Write errors
// are ignored.
func RunStatus(ctx context.Context, w io.Writer, stats *Stats, every time.Duration) {
	var width func() int
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fd := int(f.Fd())
		width = func() int {
			cols, _, err := term.GetSize(fd)
			if err != nil {
				return 0
			}
			return cols
		}
	}
	runStatus(ctx, w, stats, every, width)
}

// runStatus is RunStatus with the terminal decided: width is nil for plain
// output, and otherwise returns the terminal's width (0 if unknown).
func runStatus(ctx context.Context, w io.Writer, stats *Stats, every time.Duration, width func() int) {
	if every <= 0 {
		every = 10 * time.Second
	}
	if width != nil {
		every = min(every, time.Second)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	if width != nil { // show something at once; logs can wait
		io.WriteString(w, "\r"+fitWidth(statusSegments(stats.Snapshot(), false), width())+"\x1b[K")
	}
	for {
		select {
		case <-ctx.Done():
			snap := stats.Snapshot()
			if width != nil {
				io.WriteString(w, "\r"+fitWidth(statusSegments(snap, true), width())+"\x1b[K\n")
			} else {
				io.WriteString(w, plainLine(snap, true)+"\n")
			}
			return
		case <-t.C:
			snap := stats.Snapshot()
			if width != nil {
				io.WriteString(w, "\r"+fitWidth(statusSegments(snap, false), width())+"\x1b[K")
			} else {
				io.WriteString(w, plainLine(snap, false)+"\n")
			}
		}
	}
}

// plainLine is a status line for logs: a timestamp, the time since the
// start, and every segment.
func plainLine(s Snapshot, final bool) string {
	var b strings.Builder
	b.WriteString(s.Time.UTC().Format(time.RFC3339))
	b.WriteString(" +")
	b.WriteString(s.Elapsed.Round(time.Second).String())
	for _, seg := range statusSegments(s, final) {
		b.WriteString("   ")
		b.WriteString(seg)
	}
	return b.String()
}

// fitWidth joins segments into a terminal line of at most width-1 columns
// (writing the last column makes some terminals wrap), dropping the
// segments at the end that do not fit whole, and cutting the first one if
// even it does not fit. An unknown width (<= 0) counts as 80.
func fitWidth(segs []string, width int) string {
	if width <= 0 {
		width = 80
	}
	room := width - 1
	line := "  "
	for i, seg := range segs {
		next := line + seg
		if i > 0 {
			next = line + "   " + seg
		}
		if utf8.RuneCountInString(next) > room {
			if i == 0 {
				return truncateRunes(next, room)
			}
			break
		}
		line = next
	}
	return line
}

func truncateRunes(s string, n int) string {
	if n <= 0 {
		return ""
	}
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// statusSegments returns the parts of a status line, most important first.
// final uses the totals of the whole run instead of the last interval.
func statusSegments(s Snapshot, final bool) []string {
	sentRate, ack, notify := s.SentPerSec, s.AckWindow, s.NotifyWindow
	if final {
		sentRate, ack, notify = 0, s.Ack, s.Notify
		if s.Elapsed > 0 {
			sentRate = float64(s.Sent) / s.Elapsed.Seconds()
		}
	}
	conn := fmt.Sprintf("%d/%d connected", s.Connected, s.Devices)
	if final {
		conn = fmt.Sprintf("done: %d/%d connected (peak %d)", s.Connected, s.Devices, s.ConnectedPeak)
	}
	segs := []string{
		conn,
		formatRate(sentRate) + " fixes/s",
		"ack " + formatLatency(ack),
		"errors " + formatCount(s.Errors),
	}
	if s.AcceptedInvalid > 0 {
		segs = append(segs, "ACCEPTED INVALID "+formatCount(s.AcceptedInvalid))
	}
	segs = append(segs,
		"reconnects "+formatCount(s.Reconnects),
		"refused "+formatCount(s.RefusedExpected)+"/"+formatCount(s.RefusedExpected+s.RefusedUnexpected),
	)
	if s.Notified > 0 {
		segs = append(segs, "notify "+formatLatency(notify))
	}
	if s.Paused > 0 {
		segs = append(segs, "paused "+formatCount(uint64(s.Paused)))
	}
	if s.Queued > 0 {
		segs = append(segs, "queued "+formatCount(uint64(s.Queued)))
	}
	if s.Drops > 0 {
		segs = append(segs, "drops "+formatCount(s.Drops))
	}
	return segs
}

func formatLatency(l Latency) string {
	if l.Count == 0 {
		return "-"
	}
	return "p50 " + formatDuration(l.P50) + " p99 " + formatDuration(l.P99)
}

// formatDuration writes d in milliseconds with two or three significant
// digits, or in seconds from 10 s up.
func formatDuration(d time.Duration) string {
	m := float64(d) / float64(time.Millisecond)
	switch {
	case m >= 10000:
		return strconv.FormatFloat(m/1000, 'f', 1, 64) + " s"
	case m >= 100:
		return strconv.FormatFloat(m, 'f', 0, 64) + " ms"
	case m >= 1:
		return strconv.FormatFloat(m, 'f', 1, 64) + " ms"
	default:
		return strconv.FormatFloat(m, 'f', 2, 64) + " ms"
	}
}

// formatRate writes a rate as a whole number with thousands separators,
// or with one decimal below 10.
func formatRate(r float64) string {
	if r > 0 && r < 9.95 {
		return strconv.FormatFloat(r, 'f', 1, 64)
	}
	return formatCount(uint64(r + 0.5))
}

// formatCount writes n with thousands separators: 1,234,567.
func formatCount(n uint64) string {
	s := strconv.FormatUint(n, 10)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	lead := len(s) % 3
	if lead > 0 {
		b.WriteString(s[:lead])
	}
	for i := lead; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}
