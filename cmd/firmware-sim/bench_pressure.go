package main

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	firmwaresim "github.com/geohub/geohub/firmware-sim"
)

// pressureStats is how GeoHub delivered to the one subscriber under load,
// from its /metrics: notifications conflated for it (superseded by a newer
// fix of the same device before it read them), the most bytes that waited
// for one session, and sessions cut off.
type pressureStats struct {
	Conflated   uint64
	PendingPeak float64 // bytes
	CutOff      uint64
	Batches     uint64 // group-commit batches so far: one disk sync each
	// The Go runtime's: bytes allocated on the heap and garbage
	// collections so far. Allocation is what makes collections come.
	Allocated, GCs uint64
}

// pressure scrapes GeoHub's /metrics.
func (g *geohubServer) pressure() (pressureStats, bool, error) {
	var p pressureStats
	if g.httpAddr == "" {
		return p, false, nil
	}
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + g.httpAddr + "/metrics")
	if err != nil {
		return p, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return p, false, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		switch {
		case name == "geohub_stanzas_conflated_total":
			p.Conflated = uint64(v)
		case name == "geohub_pending_peak_bytes":
			p.PendingPeak = v
		case strings.HasPrefix(name, "geohub_sessions_cut_off_total{"):
			p.CutOff += uint64(v)
		case name == "geohub_ingest_batch_seconds_count":
			p.Batches = uint64(v)
		case name == "go_memstats_alloc_bytes_total":
			p.Allocated = uint64(v)
		case name == "go_gc_duration_seconds_count":
			p.GCs = uint64(v)
		}
	}
	return p, true, sc.Err()
}

// lastAcks remembers, for each device, when its last two publishes were
// acknowledged. With one publish in flight per device, the item a device
// published last was sent after the ack before it.
type lastAcks struct {
	mu   sync.Mutex
	last map[string][2]time.Time // device -> previous ack, last ack
}

func newLastAcks() *lastAcks { return &lastAcks{last: map[string][2]time.Time{}} }

func (l *lastAcks) acked(a firmwaresim.Account, _ firmwaresim.Fix) {
	now := time.Now()
	name := a.Name()
	l.mu.Lock()
	l.last[name] = [2]time.Time{l.last[name][1], now}
	l.mu.Unlock()
}

// behind counts the devices whose last acknowledged item the subscriber
// does not hold yet: its latest item from them was sent before their
// previous ack.
func (l *lastAcks) behind(sub *firmwaresim.Subscriber) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for name, t := range l.last {
		if got, ok := sub.Latest(name); !ok || got.Before(t[0]) {
			n++
		}
	}
	return n
}
