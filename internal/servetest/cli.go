package servetest

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Build builds the geohub binary from the repository at root into a
// temporary folder and returns its path.
func Build(t testing.TB, root string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "geohub")
	Run(t, root, "go", "build", "-o", bin, "./cmd/geohub")
	return bin
}

// Run runs name with args in dir and returns its output; it fails the
// test, with the output, unless the command succeeds.
func Run(t testing.TB, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// AddAccount makes the account name in the data folder with
// `bin device add` (args add its role and groups) and returns its
// password.
func AddAccount(t testing.TB, bin, data, name string, args ...string) string {
	t.Helper()
	out := Run(t, "", bin, append([]string{"device", "add", name, "--data", data}, args...)...)
	f := strings.Fields(out)
	if len(f) != 2 {
		t.Fatalf("device add %s printed %q", name, out)
	}
	return f[1]
}
