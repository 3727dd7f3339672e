package main

import (
	"bufio"
	"bytes"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
)

// defaultHeapFloorMiB is an eighth of the memory the hub may use, at most
// 256 MiB (128 where that memory cannot be read). 1,000 devices publishing
// 5,000 fixes a second keep 40–60 MiB in use: a 256 MiB floor collects
// every few seconds there, 128 MiB about once a second, and each
// collection marks for 35–55 ms, during which the tail of the
// acknowledgements grows (README, "At the rates fleets run").
func defaultHeapFloorMiB() int {
	return heapFloorFor(memoryLimit(readFile("/proc/meminfo"), readFile("/sys/fs/cgroup/memory.max")))
}

const maxDefaultHeapFloorMiB = 256

func heapFloorFor(memory uint64) int {
	if memory == 0 {
		return 128
	}
	return int(min(memory>>20/8, maxDefaultHeapFloorMiB))
}

// memoryLimit is the machine's memory (MemTotal of /proc/meminfo) or the
// container's limit (cgroup v2 memory.max) when lower; 0 if neither reads.
func memoryLimit(meminfo, cgroupMax []byte) uint64 {
	var total uint64
	sc := bufio.NewScanner(bytes.NewReader(meminfo))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) >= 2 && string(f[0]) == "MemTotal:" {
			if kb, err := strconv.ParseUint(string(f[1]), 10, 64); err == nil {
				total = kb << 10
			}
		}
	}
	if limit, err := strconv.ParseUint(string(bytes.TrimSpace(cgroupMax)), 10, 64); err == nil && limit > 0 && (total == 0 || limit < total) {
		return limit // "max" (no limit) does not parse
	}
	return total
}

func readFile(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

// keepHeapFloor lets the Go heap grow to floor bytes before the garbage
// collector runs, and collects as GOGC=100 once what is in use (the live
// heap, goroutine stacks, the runtime's own memory) passes half of it. A hub with a small live heap otherwise collects every few
// megabytes, and each cycle scans the stacks of every session's
// goroutines: at 2,000 publishes/s that was a tenth of the hub's CPU.
// It does nothing with floor 0 or when GOGC or GOMEMLIMIT is set.
//
// While little is in use, collection is off and the memory limit
// is the floor (so the runtime collects when it is reached, and never
// lets it be passed for long); a finalizer on an object nobody holds
// runs after each cycle and switches between the two ways.
func keepHeapFloor(floor uint64) {
	if floor == 0 || os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	small := false
	var arm func()
	arm = func() {
		runtime.SetFinalizer(new([64]byte), func(*[64]byte) {
			// Switching stops the world briefly: only on a change.
			if s := inUse()*2 < floor; s != small {
				small = s
				setHeapFloor(floor, small)
			}
			arm()
		})
	}
	arm()
	runtime.GC()
}

var footprint = []metrics.Sample{
	{Name: "/gc/heap/live:bytes"},
	{Name: "/memory/classes/total:bytes"},
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/memory/classes/heap/unused:bytes"},
	{Name: "/memory/classes/heap/free:bytes"},
	{Name: "/memory/classes/heap/released:bytes"},
}

// inUse is what the process needs after a collection, as the memory
// limit counts it: the live heap and everything that is not heap
// (goroutine stacks above all: a hub of many idle sessions has more
// stack than heap, and a limit under them would collect without end).
func inUse() uint64 {
	metrics.Read(footprint)
	v := func(i int) uint64 { return footprint[i].Value.Uint64() }
	heap := v(2) + v(3) + v(4) + v(5)
	return v(0) + v(1) - min(heap, v(1))
}

// setHeapFloor collects at floor when the heap is small, else as GOGC=100.
func setHeapFloor(floor uint64, small bool) {
	if small {
		debug.SetMemoryLimit(int64(floor))
		debug.SetGCPercent(-1)
		return
	}
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
}
