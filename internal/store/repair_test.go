package store

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/buntdb"
)

// writeDB writes a BuntDB file with a few commands and returns its path.
func writeDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), DBFile)
	db, err := buntdb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range [][2]string{{"a", "1"}, {"b", `{"x":"two"}`}, {"c", "3"}, {"d", "4"}} {
		db.Update(func(tx *buntdb.Tx) error { _, _, err := tx.Set(kv[0], kv[1], nil); return err })
	}
	db.Update(func(tx *buntdb.Tx) error { _, err := tx.Delete("d"); return err })
	db.Close()
	return path
}

func keys(t *testing.T, path string) string {
	t.Helper()
	db, err := buntdb.Open(path)
	if err != nil {
		t.Fatalf("open after repair: %v", err)
	}
	defer db.Close()
	var got []string
	db.View(func(tx *buntdb.Tx) error {
		return tx.Ascend("", func(k, v string) bool { got = append(got, k+"="+v); return true })
	})
	return strings.Join(got, " ")
}

// A damaged command in the middle is found with its byte and line, and
// repair keeps every other command, in order, and the damaged file.
func TestCheckFindsAndRepairKeepsWholeRecords(t *testing.T) {
	path := writeDB(t)
	clean, _ := os.ReadFile(path)
	if d, err := Check(path); d != nil || err != nil {
		t.Fatalf("an undamaged file: %v %v", d, err)
	}
	// A cut-off last write is not damage: BuntDB drops it.
	os.WriteFile(path, append(bytes.Clone(clean), "*3\r\n$3\r\nset\r\n$1\r\ne"...), 0o600)
	if d, err := Check(path); d != nil || err != nil {
		t.Fatalf("a cut-off last write: %v %v", d, err)
	}

	for _, c := range []struct {
		name, from, to, reason, want string
	}{
		{"a length", "$1\r\nb\r\n", "$x\r\nb\r\n", `a bad length "x"`, `a=1 c=3`},
		{"a value's end", `{"x":"two"}` + "\r\n", `{"x":"two"}` + "XX", "not followed by CRLF", `a=1 c=3`},
		{"a command", "$3\r\nset\r\n$1\r\nc", "$3\r\nzap\r\n$1\r\nc", `unknown command "zap"`, `a=1 b={"x":"two"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			i := bytes.Index(clean, []byte(c.from))
			if i < 0 {
				t.Fatalf("%q not in the file", c.from)
			}
			damaged := append(append(bytes.Clone(clean[:i]), c.to...), clean[i+len(c.from):]...)
			os.WriteFile(path, damaged, 0o600)
			if _, err := buntdb.Open(path); err == nil {
				t.Fatal("BuntDB opened the damaged file")
			}
			d, err := Check(path)
			if err != nil || d == nil || !strings.Contains(d.Reason, c.reason) {
				t.Fatalf("check: %v %v, want %q", d, err, c.reason)
			}
			start := bytes.LastIndex(damaged[:i+1], []byte("*"))
			if d.Offset != int64(start) || d.Line != 1+bytes.Count(damaged[:start], []byte("\n")) {
				t.Errorf("damage at byte %d line %d, want the command at byte %d", d.Offset, d.Line, start)
			}
			rep, err := Repair(path)
			if err != nil || len(rep.Dropped) != 1 {
				t.Fatalf("repair: %+v %v", rep, err)
			}
			if got := keys(t, path); got != c.want {
				t.Errorf("after repair: %s, want %s", got, c.want)
			}
			if kept, _ := os.ReadFile(rep.Copy); !bytes.Equal(kept, damaged) {
				t.Error("the damaged file was not kept as it was")
			}
			if d, _ := Check(path); d != nil {
				t.Errorf("the repaired file is damaged: %v", d)
			}
		})
	}
}
