package dashboard

import (
	"io/fs"
	"regexp"
	"testing"
)

// The embedded UI is whole: every file index.html names is there. Without a
// build, UI is nil (the server then explains how to build it).
func TestEmbeddedUI(t *testing.T) {
	ui := UI()
	if !UIBuilt() {
		if ui != nil {
			t.Fatal("UI is not nil although the UI was not built")
		}
		t.Log("the web UI was not built (make ui); only the page saying so is served")
		return
	}
	index, err := fs.ReadFile(ui, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	refs := regexp.MustCompile(`(?:src|href)="([^":]+)"`).FindAllSubmatch(index, -1)
	if len(refs) < 2 {
		t.Fatalf("index.html names no script and stylesheet:\n%s", index)
	}
	for _, r := range refs {
		if _, err := fs.Stat(ui, string(r[1])); err != nil {
			t.Errorf("index.html names %s: %v", r[1], err)
		}
	}
}
