package main

import (
	"strings"
	"testing"
)

func TestServeArchiveFlags(t *testing.T) {
	out, err := geohub(t, []string{"GEOHUB_MAM_CAP=0"}, "serve", "--check-config", "--mam-retention", "-1h")
	if err == nil {
		t.Fatal("a negative retention and a zero cap accepted")
	}
	for _, want := range []string{"--mam-retention", "--mam-cap"} {
		if !strings.Contains(out, want) {
			t.Errorf("error does not name %s: %q", want, out)
		}
	}
	// 0 turns the archive off.
	if out := mustGeohub(t, "serve", "--check-config", "--mam-retention", "0", "--mam-cap", "500"); !strings.Contains(out, "ok") {
		t.Errorf("--mam-retention 0: %q", out)
	}
}
