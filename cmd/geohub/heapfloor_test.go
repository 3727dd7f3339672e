package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// TestHeapFloor runs itself in a child process (the tuner changes the
// whole process's collector): with a floor, 256 MiB of garbage is
// collected a few times at most, not every 4 MiB; a live heap past half
// the floor brings back GOGC=100.
func TestHeapFloor(t *testing.T) {
	if os.Getenv("GEOHUB_HEAPFLOOR_CHILD") != "" {
		heapFloorChild()
		return
	}
	run := func(floor string, env ...string) string {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestHeapFloor$")
		cmd.Env = append(append(os.Environ(), "GEOHUB_HEAPFLOOR_CHILD="+floor), env...)
		cmd.Env = without(cmd.Env, "GOGC", "GOMEMLIMIT")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return string(out)
	}
	var gcs, percent int
	if _, err := fmt.Sscanf(lineWith(run("128"), "gcs "), "gcs %d percent %d", &gcs, &percent); err != nil {
		t.Fatal(err)
	}
	t.Logf("floor 128 MiB: %d collections, GC percent %d with 100 MiB live", gcs, percent)
	if gcs > 4 || percent != 100 {
		t.Errorf("floor 128 MiB: %d collections for 256 MiB of garbage (want ≤ 4), GC percent %d with 100 MiB live (want 100)", gcs, percent)
	}
	var stacks int
	if _, err := fmt.Sscanf(lineWith(run("128", "GEOHUB_HEAPFLOOR_STACKS=1"), "stacks "), "stacks percent %d", &stacks); err != nil {
		t.Fatal(err)
	}
	if stacks != 100 {
		t.Errorf("floor 128 MiB, small heap under 100 MiB of goroutine stacks: GC percent %d, want 100", stacks)
	}
	if _, err := fmt.Sscanf(lineWith(run("0"), "gcs "), "gcs %d percent %d", &gcs, &percent); err != nil {
		t.Fatal(err)
	}
	t.Logf("no floor: %d collections", gcs)
	if gcs < 10 {
		t.Errorf("no floor: %d collections for 256 MiB of garbage, want the default's many (one every few MiB)", gcs)
	}
}

var sink []byte

func heapFloorChild() {
	var floor uint64
	fmt.Sscan(os.Getenv("GEOHUB_HEAPFLOOR_CHILD"), &floor)
	keepHeapFloor(floor << 20)
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	before := m.NumGC
	for range 256 << 10 {
		sink = make([]byte, 1024)
	}
	runtime.ReadMemStats(&m)
	gcs := m.NumGC - before
	// Stacks count against the limit as the heap does: a small heap
	// under 100 MiB of stacks is not small.
	if os.Getenv("GEOHUB_HEAPFLOOR_STACKS") != "" {
		release := make(chan struct{})
		defer close(release)
		for range 800 {
			go deepStack(1000, release) // about 128 KiB of stack each
		}
		runtime.GC()
		runtime.GC()
		fmt.Printf("stacks percent %d\n", debug.SetGCPercent(100))
		return
	}
	live := make([][]byte, 100)
	for i := range live {
		live[i] = make([]byte, 1<<20)
	}
	runtime.GC() // the finalizer sees 100 MiB live
	runtime.GC() // and has run
	fmt.Printf("gcs %d percent %d\n", gcs, debug.SetGCPercent(100))
	runtime.KeepAlive(live)
}

// deepStack grows its goroutine's stack by depth frames of 100-odd
// bytes each and waits.
func deepStack(depth int, release chan struct{}) byte {
	var pad [100]byte
	if depth > 0 {
		pad[0] = deepStack(depth-1, release)
	} else {
		<-release
	}
	return pad[0]
}

func lineWith(out, prefix string) string {
	for l := range strings.Lines(out) {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return out
}

// without is env without the variables names.
func without(env []string, names ...string) []string {
	var kept []string
	for _, e := range env {
		drop := false
		for _, n := range names {
			drop = drop || strings.HasPrefix(e, n+"=")
		}
		if !drop {
			kept = append(kept, e)
		}
	}
	return kept
}

// The default floor follows the memory the hub may use: the machine's, or
// a container's lower limit.
func TestDefaultHeapFloor(t *testing.T) {
	meminfo := []byte("MemTotal:       24576000 kB\nMemFree:        1000 kB\n")
	for _, c := range []struct {
		meminfo, cgroup string
		want            int
	}{
		{string(meminfo), "max\n", 256},               // 24 GiB machine, no container limit
		{string(meminfo), "", 256},                    // no cgroup v2
		{string(meminfo), "1073741824\n", 128},        // a 1 GiB container
		{"MemTotal: 524288 kB\n", "max\n", 64},        // a 512 MiB board
		{"MemTotal: 524288 kB\n", "4294967296\n", 64}, // a container limit above the machine's memory
		{"", "", 128},             // nothing to read: the old default
		{"", "2147483648\n", 256}, // only the container's limit
	} {
		if got := heapFloorFor(memoryLimit([]byte(c.meminfo), []byte(c.cgroup))); got != c.want {
			t.Errorf("meminfo %q, memory.max %q: floor %d MiB, want %d", c.meminfo, c.cgroup, got, c.want)
		}
	}
}
