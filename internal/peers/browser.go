package peers

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"
)

// BrowserScript is a Node.js script that drives Chromium with
// playwright-core and reports each step as a JSON line {"step": ...} on
// stdout; the test answers a step on the script's stdin when the script
// waits for it.
type BrowserScript struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	cancel context.CancelFunc
	stdin  io.Writer
	stdout io.Reader
	stderr bytes.Buffer
	waited bool
}

// StartBrowserScript runs node on script in dir, with env (NAME=value)
// added to its environment, for at most 4 minutes. When the test ends the
// script is stopped if it still runs, and when the test failed its stderr
// goes to the test log.
func StartBrowserScript(t testing.TB, dir, script string, env ...string) *BrowserScript {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	s := &BrowserScript{t: t, name: script, cancel: cancel}
	s.cmd = exec.CommandContext(ctx, "node", script)
	s.cmd.Dir = dir
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Stderr = &s.stderr
	var err error
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if s.stdout, err = s.cmd.StdoutPipe(); err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel() // ends the script if the test stopped early
		if !s.waited {
			s.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", s.name, s.stderr.String())
		}
	})
	return s
}

// Answer writes step as a line to the script's stdin.
func (s *BrowserScript) Answer(step string) {
	s.t.Helper()
	if _, err := io.WriteString(s.stdin, step+"\n"); err != nil {
		s.t.Fatalf("telling the browser script %q: %v", step, err)
	}
}

// Run logs every line the script prints and calls each with the step of
// every JSON line and the line, in order. It fails the test unless the
// script then exits 0 with "done" as its last step.
func (s *BrowserScript) Run(each func(step string, line []byte)) {
	s.t.Helper()
	var steps []string
	lines := bufio.NewScanner(s.stdout)
	for lines.Scan() {
		s.t.Logf("browser: %s", lines.Text())
		var l struct{ Step string }
		if json.Unmarshal(lines.Bytes(), &l) != nil {
			continue
		}
		steps = append(steps, l.Step)
		each(l.Step, lines.Bytes())
	}
	err := s.cmd.Wait()
	s.waited = true
	if err != nil {
		s.t.Fatalf("browser script: %v (steps done: %v)", err, steps)
	}
	if len(steps) == 0 || steps[len(steps)-1] != "done" {
		s.t.Fatalf("browser script ended after steps %v", steps)
	}
}
