package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/geohub/geohub/internal/admin"
	"github.com/geohub/geohub/internal/peers"
	"github.com/geohub/geohub/internal/tlscert"
	"github.com/geohub/geohub/internal/xmpptest"
)

// A data folder made beforehand with the usual 0755 ends up private, with
// everything secret in it 0600; a new password from the command line ends
// the account's live XMPP session with <reset/>, a removal with
// <not-authorized/>.
func TestDataFolderIsPrivateAndCLIChangesEndSessions(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(data, 0o755)
	carPassword := strings.Fields(mustGeohub(t, "device", "add", "car", "--data", data))[1]
	vanPassword := strings.Fields(mustGeohub(t, "device", "add", "van", "--data", data))[1]
	hub := startServe(t, data)
	for path, want := range map[string]os.FileMode{
		data: 0o700, filepath.Join(data, "geohub.db"): 0o600, filepath.Join(data, tlscert.KeyFile): 0o600,
		filepath.Dir(filepath.Join(data, tlscert.KeyFile)): 0o700, filepath.Join(data, admin.SocketFile): 0o600,
	} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want mode %04o", path, fi.Mode(), err, want)
		}
	}

	cert, err := os.ReadFile(filepath.Join(data, tlscert.CertFile))
	if err != nil {
		t.Fatal(err)
	}
	o := xmpptest.Options{Addr: hub.C2S, TLS: xmpptest.TrustPEM(cert)}
	car := xmpptest.Dial(t, o, "car", carPassword)
	van := xmpptest.Dial(t, o, "van", vanPassword)
	mustGeohub(t, "device", "passwd", "car", "--data", data)
	if err := car.Ended(); xmpptest.StreamErrorCondition(err) != "reset" {
		t.Errorf("session after geohub device passwd: %v, want a <reset/> stream error", err)
	}
	mustGeohub(t, "device", "remove", "van", "--data", data)
	if err := van.Ended(); xmpptest.StreamErrorCondition(err) != "not-authorized" {
		t.Errorf("session after geohub device remove: %v, want a <not-authorized/> stream error", err)
	}
}

// A data folder open to others that belongs to another user: the hub
// refuses to start and says which folder and how to fix it.
func TestServeRefusesAnotherUsersOpenDataFolder(t *testing.T) {
	peers.RequireRoot(t, "gives a folder to another user (chown), which needs root")
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(data, 0o755)
	if err := os.Chown(data, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	out, err := geohub(t, nil, "serve", "--data", data, "--c2s", "127.0.0.1:0", "--c2s-tls", "", "--http", "")
	if err == nil || !strings.Contains(out, "readable by other users") || !strings.Contains(out, "chmod 700 "+data) {
		t.Errorf("serve on another user's open folder: %v %q", err, out)
	}
}
