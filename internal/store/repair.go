package store

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// BuntDB's file is a log of commands (set, del, flushdb), each a RESP array
// of bulk strings. It refuses a file with a damaged command anywhere but at
// the end ("invalid database"), without saying where. Check finds the
// place; Repair keeps every command that reads whole.

// Damage is where a database file stops reading as commands.
type Damage struct {
	Offset int64 // bytes from the start of the file
	Line   int   // 1-based, counting \n
	Reason string
}

func (d *Damage) Error() string {
	return fmt.Sprintf("damaged at byte %d (line %d): %s", d.Offset, d.Line, d.Reason)
}

// readCommand reads the command at the start of b and returns its length,
// or a reason why it is not one. A command cut off by the end of b is
// short (BuntDB drops it: the write it belonged to never completed).
func readCommand(b []byte) (n int, short bool, reason string) {
	count, n, short, reason := readHeader(b, '*')
	if reason != "" || short {
		return 0, short, reason
	}
	var args []string
	for range count {
		size, m, short, reason := readHeader(b[n:], '$')
		if reason != "" || short {
			return 0, short, reason
		}
		n += m
		if len(b)-n < size+2 {
			return 0, true, ""
		}
		if b[n+size] != '\r' || b[n+size+1] != '\n' {
			return 0, false, "a value is not followed by CRLF where its length says"
		}
		args = append(args, string(b[n:n+size]))
		n += size + 2
	}
	return n, false, checkCommand(args)
}

// readHeader reads "<kind><digits>\r\n".
func readHeader(b []byte, kind byte) (value, n int, short bool, reason string) {
	end := bytes.IndexByte(b, '\n')
	if end < 0 {
		return 0, 0, true, ""
	}
	line := b[:end+1]
	if line[0] != kind {
		return 0, 0, false, fmt.Sprintf("%q where %q was expected", line[0], kind)
	}
	if len(line) < 4 || line[len(line)-2] != '\r' {
		return 0, 0, false, "a header line without CRLF"
	}
	v, err := strconv.Atoi(string(line[1 : len(line)-2]))
	if err != nil || v < 0 {
		return 0, 0, false, fmt.Sprintf("a bad length %q", line[1:len(line)-2])
	}
	return v, len(line), false, ""
}

// checkCommand is what BuntDB accepts: set key value [ex|ae seconds], del
// key, flushdb, or an empty array.
func checkCommand(args []string) string {
	if len(args) == 0 {
		return ""
	}
	switch strings.ToLower(args[0]) {
	case "set":
		if len(args) == 3 {
			return ""
		}
		if len(args) == 5 && (strings.EqualFold(args[3], "ex") || strings.EqualFold(args[3], "ae")) {
			if _, err := strconv.ParseInt(args[4], 10, 64); err == nil {
				return ""
			}
		}
		return "a set command with bad arguments"
	case "del":
		if len(args) == 2 {
			return ""
		}
		return "a del command with bad arguments"
	case "flushdb":
		if len(args) == 1 {
			return ""
		}
	}
	return fmt.Sprintf("an unknown command %q", args[0])
}

// Check reads the database file at path and returns where it is damaged,
// or nil when BuntDB can load all of it.
func Check(path string) (*Damage, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for off := 0; off < len(b); {
		if b[off] == 0 { // BuntDB skips NUL bytes
			off++
			continue
		}
		n, short, reason := readCommand(b[off:])
		switch {
		case short:
			return nil, nil // an unfinished last write
		case reason != "":
			return &Damage{Offset: int64(off), Line: 1 + bytes.Count(b[:off], []byte{'\n'}), Reason: reason}, nil
		}
		off += n
	}
	return nil, nil
}

// RepairReport is what Repair did.
type RepairReport struct {
	Kept    int      // commands kept
	Dropped []string // the damaged byte ranges left out, with why
	Copy    string   // where the file as it was is kept
}

// Repair rewrites the database file at path with every command that reads
// whole, in order, leaving out damaged bytes up to the next command that
// does; the file as it was is kept beside it. The folder must not be in
// use (Lock).
func Repair(path string) (RepairReport, error) {
	var rep RepairReport
	b, err := os.ReadFile(path)
	if err != nil {
		return rep, err
	}
	var out bytes.Buffer
	for off := 0; off < len(b); {
		if b[off] == 0 {
			off++
			continue
		}
		n, short, reason := readCommand(b[off:])
		if short {
			break
		}
		if reason == "" {
			out.Write(b[off : off+n])
			rep.Kept++
			off += n
			continue
		}
		next := resync(b, off+1)
		rep.Dropped = append(rep.Dropped, fmt.Sprintf("bytes %d–%d (line %d): %s", off, next, 1+bytes.Count(b[:off], []byte{'\n'}), reason))
		off = next
	}
	stamp := fmt.Sprintf("%s.damaged-%s", path, time.Now().UTC().Format("20060102T150405Z"))
	rep.Copy = stamp
	for i := 2; ; i++ {
		err := os.Link(path, rep.Copy)
		if err == nil {
			break
		}
		if !os.IsExist(err) {
			return rep, fmt.Errorf("keeping a copy: %w", err)
		}
		rep.Copy = fmt.Sprintf("%s-%d", stamp, i)
	}
	tmp := path + ".repair"
	if err := writeSynced(tmp, out.Bytes()); err != nil {
		return rep, err
	}
	return rep, os.Rename(tmp, path)
}

// resync returns the first offset at or after from where a whole command
// starts, or len(b). Damage may have eaten the line break before it; a
// command's strict form (lengths that match, a known name) is what tells
// it from data.
func resync(b []byte, from int) int {
	for i := from; i < len(b); i++ {
		if b[i] != '*' {
			continue
		}
		if _, short, reason := readCommand(b[i:]); reason == "" && !short {
			return i
		}
	}
	return len(b)
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, secretMode)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
