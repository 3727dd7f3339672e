package jsonw

import (
	"encoding/json"
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
