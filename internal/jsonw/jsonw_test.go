package jsonw

import (
	"encoding/json"
	"strings"
	"testing"
)

func FuzzAppendStringAsJSONMarshal(f *testing.F) {
	for _, s := range []string{"", "plain", `"q" \ /`, "<geoloc xmlns='x'>&amp;</geoloc>", "\b\f\n\r\t\x00\x1f\x7f",
		"ü € 😀", "\xff\xfe bad", "\u2028\u2029", "a\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := AppendString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Fatalf("%q: got %s, want %s", s, got[1:], want)
		}
	})
}

func BenchmarkAppendString(b *testing.B) {
	payload := "<geoloc xmlns='http://jabber.org/protocol/geoloc'><lat>52.5162</lat><lon>13.3777</lon><accuracy>5</accuracy><speed>13.9</speed><bearing>92</bearing><timestamp>2026-12-07T15:00:00.123Z</timestamp></geoloc>"
	buf := make([]byte, 0, 1024)
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		buf = AppendString(buf[:0], payload)
	}
}

// String gives what was appended, whether or not its pooled buffer was
// big enough, and a string that later builds do not change.
func TestStringCopiesWhatWasBuilt(t *testing.T) {
	var kept []string
	for _, n := range []int{0, 10, 1 << 10, 100 << 10, 3} {
		want := strings.Repeat("x", n)
		got := String(func(b []byte) []byte { return append(b, want...) })
		if got != want {
			t.Fatalf("String gave %d bytes, want %d", len(got), n)
		}
		kept = append(kept, got)
	}
	if kept[1] != strings.Repeat("x", 10) || kept[4] != "xxx" {
		t.Fatal("a later build changed an earlier string")
	}
}
