package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/internal/store"
)

// openFolder opens a data folder no hub uses as serve does, the sealer
// left to the caller (SealRound), and closes it when the test ends or
// close is called.
func openFolder(t *testing.T, data string) (geo *geoloc.Store, commit *store.Committer, close func()) {
	t.Helper()
	dir, err := store.Lock(data)
	if err != nil {
		t.Fatal(err)
	}
	db, err := dir.Open()
	if err != nil {
		t.Fatal(err)
	}
	hist, err := openHistory(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	commit = store.NewCommitter(db)
	geo, err = geoloc.OpenStore(db, geoloc.Options{Commit: commit, History: hist, SealEvery: -1, SealDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	done := false
	close = func() {
		if !done {
			done = true
			commit.Close()
			hist.Close()
			db.Close()
			dir.Unlock()
		}
	}
	t.Cleanup(close)
	return geo, commit, close
}

// A backup holds the sealed trail (the history file) as well as the
// database, and a restore brings both back.
func TestBackupHoldsTheSealedTrail(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	mustGeohub(t, "device", "add", "car-1", "--data", data)
	geo, commit, closeFolder := openFolder(t, data)
	start := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	for i := range 30 {
		w, then, err := geo.Stage(geoloc.Position{Device: "car-1@localhost", Lat: 52 + float64(i)*1e-4, Lon: 13.4,
			Time: start.Add(time.Duration(i) * 5 * time.Second), Received: start})
		if err != nil {
			t.Fatal(err)
		}
		commit.Submit(w, then)
		if i == 19 {
			if err := commit.Later(nil).Wait(); err != nil {
				t.Fatal(err)
			}
			if n, _, err := geo.SealRound(time.Now()); err != nil || n != 20 {
				t.Fatalf("sealed %d: %v", n, err)
			}
		}
	}
	if err := commit.Later(nil).Wait(); err != nil {
		t.Fatal(err)
	}
	closeFolder()
	file := filepath.Join(t.TempDir(), "backup.tar.gz")
	mustGeohub(t, "backup", file, "--data", data)
	target := filepath.Join(t.TempDir(), "restored")
	mustGeohub(t, "restore", file, "--data", target)
	restored, _, _ := openFolder(t, target)
	pts := restored.TrailPoints("car-1@localhost", start, start.Add(time.Hour))
	if len(pts) != 30 || !pts[0].Time.Equal(start) || pts[29].Lat != 52+29*1e-4 {
		t.Fatalf("restored trail: %d points %+v", len(pts), pts)
	}
}
