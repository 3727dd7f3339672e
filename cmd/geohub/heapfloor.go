package main

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
)

// defaultHeapFloorMiB: 1,000 devices publishing keep 10–35 MiB live.
const defaultHeapFloorMiB = 128

// keepHeapFloor lets the Go heap grow to floor bytes before the garbage
// collector runs, and collects as GOGC=100 once the live heap passes half
// of it. A hub with a small live heap otherwise collects every few
// megabytes, and each cycle scans the stacks of every session's
// goroutines: at 2,000 publishes/s that was a tenth of the hub's CPU.
// It does nothing with floor 0 or when GOGC or GOMEMLIMIT is set.
//
// While the live heap is small, collection is off and the memory limit
// is the floor (so the runtime collects when it is reached, and never
// lets it be passed for long); a finalizer on an object nobody holds
// runs after each cycle and switches between the two ways.
func keepHeapFloor(floor uint64) {
	if floor == 0 || os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	small := false
	var arm func()
	arm = func() {
		runtime.SetFinalizer(new([64]byte), func(*[64]byte) {
			metrics.Read(sample)
			// Switching stops the world briefly: only on a change.
			if s := sample[0].Value.Uint64()*2 < floor; s != small {
				small = s
				setHeapFloor(floor, small)
			}
			arm()
		})
	}
	arm()
	runtime.GC()
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
