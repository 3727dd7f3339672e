package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestGroupTrailRetentionOfflineAndThroughTheRunningHub(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	mustGeohub(t, "device", "add", "van-1", "--group", "fleet", "--data", data)
	for _, bad := range [][]string{{"fleet"}, {"fleet", "--trail-retention", "soon"}, {"fleet", "--trail-retention", "-3d"}, {"--trail-retention", "3d"}} {
		if out, err := geohub(t, nil, append([]string{"group", "set", "--data", data}, bad...)...); err == nil {
			t.Errorf("group set %q accepted: %s", bad, out)
		}
	}
	mustGeohub(t, "group", "set", "fleet", "--trail-retention", "90d", "--data", data)
	list := func() []groupArgs {
		t.Helper()
		var got []groupArgs
		if out := mustGeohub(t, "group", "list", "--format", "json", "--data", data); json.Unmarshal([]byte(out), &got) != nil {
			t.Fatalf("group list: %s", out)
		}
		return got
	}
	if got := list(); len(got) != 1 || got[0].Group != "fleet" || got[0].TrailRetention != 90*24*time.Hour {
		t.Errorf("offline: %+v", got)
	}
	hub := startServe(t, data)
	mustGeohub(t, "group", "set", "vip", "--trail-retention", "36h", "--data", data)
	mustGeohub(t, "group", "set", "fleet", "--trail-retention", "0", "--data", data)
	if got := list(); len(got) != 1 || got[0].Group != "vip" || got[0].TrailRetention != 36*time.Hour {
		t.Errorf("through the hub: %+v", got)
	}
	if out := mustGeohub(t, "group", "list", "--data", data); !strings.Contains(out, "vip") || !strings.Contains(out, "36h0m0s") {
		t.Errorf("group list: %q", out)
	}
	if err := hub.Stop(); err != nil {
		t.Error(err)
	}
	if got := list(); len(got) != 1 || got[0].Group != "vip" {
		t.Errorf("after the hub stopped: %+v", got)
	}
}
