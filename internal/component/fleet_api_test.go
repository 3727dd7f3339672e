package component_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/geohub/geohub/internal/servetest"
)

// apiPositions asks an instance's API for the map's positions and returns
// the devices' JIDs, sorted, and each instance's status, from the answer's
// shards member; header is its GeoHub-Shards header.
func apiPositions(t *testing.T, h *servetest.Hub, token string) (jids []string, shards map[string]string, header string) {
	t.Helper()
	var fc struct {
		Features []struct{ ID string }
		Shards   map[string]struct{ Status, Reason string }
	}
	header = apiGet(t, h, token, "/api/positions", &fc)
	for _, f := range fc.Features {
		jids = append(jids, f.ID)
	}
	slices.Sort(jids)
	shards = map[string]string{}
	for d, s := range fc.Shards {
		shards[d] = s.Status
		if s.Status != "ok" && s.Reason == "" {
			t.Errorf("%s is %s without a reason", d, s.Status)
		}
	}
	return jids, shards, header
}

// apiGet decodes the JSON answer of path into out and returns its
// GeoHub-Shards header.
func apiGet(t *testing.T, h *servetest.Hub, token, path string, out any) string {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+h.HTTP+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, res.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, b)
	}
	return res.Header.Get("GeoHub-Shards")
}

// liveStream opens an instance's /api/stream and sends the data of each
// positions event on the channel until the test ends.
func liveStream(t *testing.T, h *servetest.Hub, token string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+h.HTTP+"/api/stream", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("stream: %s", res.Status)
	}
	out := make(chan string, 1024)
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); res.Body.Close(); <-done })
	go func() {
		defer close(done)
		lines := bufio.NewScanner(res.Body)
		lines.Buffer(nil, 1<<20)
		event := ""
		for lines.Scan() {
			line := lines.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && event == "positions":
				select {
				case out <- strings.TrimPrefix(line, "data: "):
				default:
				}
			}
		}
	}()
	return out
}
