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
