package main

import (
	"strings"
	"testing"
)

// The delivery limits (issue 13, finding 5) are flags and environment
// variables; bad values name their flag, and 0 rates mean unlimited.
func TestServeDeliveryLimits(t *testing.T) {
	out, err := geohub(t, []string{"GEOHUB_STANZA_RATE=-5", "GEOHUB_STALL_TIMEOUT=0s"},
		"serve", "--check-config", "--byte-burst", "1000", "--max-pending", "2000")
	if err == nil {
		t.Fatal("bad limits accepted")
	}
	for _, want := range []string{"--stanza-rate", "--byte-burst", "--stall-timeout", "--max-pending"} {
		if !strings.Contains(out, want) {
			t.Errorf("error does not name %s: %q", want, out)
		}
	}
	if out := mustGeohub(t, "serve", "--check-config", "--stanza-rate", "0", "--byte-rate", "0"); !strings.Contains(out, "ok") {
		t.Errorf("unlimited rates: %q", out)
	}
	help := mustGeohub(t, "serve", "--help")
	for _, want := range []string{"GEOHUB_STANZA_RATE", "GEOHUB_STANZA_BURST", "GEOHUB_BYTE_RATE", "GEOHUB_BYTE_BURST", "GEOHUB_STALL_TIMEOUT", "(default 200)", "(default 30s)"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %s", want)
		}
	}
}
