package pubsub_test

import (
	"testing"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/internal/store"
	"github.com/geohub/geohub/pubsub"
	"github.com/tidwall/buntdb"
)

// nobody is a directory without accounts online.
type nobody struct{}

func (nobody) PresenceSubscribed(string, string) bool       { return false }
func (nobody) InRosterGroups(string, string, []string) bool { return false }
func (nobody) Interested(string, string) []string           { return nil }
func (nobody) Resources(string) []string                    { return nil }
func (nobody) Deliver(string, []byte, string)               {}

// The hub delivers the alerts still queued at shutdown after the committer
// has closed (hub.Server.Drain): publishing one must return, not wait for
// the service's own lock.
// newService runs a service on an in-memory database until the test ends,
// with its committer, which the test may close sooner.
func newService(t *testing.T) (*pubsub.Service, *store.Committer) {
	t.Helper()
	return openService(t, pubsub.Config{Host: "pubsub.localhost"}, nobody{})
}

// openService is newService with a configuration and a directory.
func openService(t *testing.T, cfg pubsub.Config, dir pubsub.Directory) (*pubsub.Service, *store.Committer) {
	t.Helper()
	db, err := buntdb.Open(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	accounts, err := devices.Open(db, devices.Options{Domain: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { accounts.Close() })
	commit := store.NewCommitter(db)
	ps, err := pubsub.New(cfg, db, commit, accounts, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { commit.Close(); ps.Close() })
	return ps, commit
}

func TestPublishAsAfterTheCommitterClosed(t *testing.T) {
	ps, commit := newService(t)
	ps.EnsureNode("alerts", pubsub.ServiceDefaults())
	commit.Close()
	done := make(chan error, 1)
	go func() { done <- ps.PublishAs("alerts", "a1", []byte("<alert xmlns='urn:geohub:alert:0'/>")) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("PublishAs: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("PublishAs did not return after the committer closed")
	}
}
