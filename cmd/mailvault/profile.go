package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"sync/atomic"
	"time"
)

// startProfile writes a CPU profile of the run to $MAILVAULT_CPUPROFILE and
// a heap profile taken near the run's peak of live memory to
// $MAILVAULT_MEMPROFILE, for `go tool pprof`; the returned func stops them.
func startProfile() func() {
	stopCPU := cpuProfile(os.Getenv("MAILVAULT_CPUPROFILE"))
	stopMem := peakHeapProfile(os.Getenv("MAILVAULT_MEMPROFILE"))
	return func() { stopCPU(); stopMem() }
}

func cpuProfile(path string) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mailvault: MAILVAULT_CPUPROFILE:", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// peakHeapProfile rewrites the heap profile at path whenever the live heap
// has grown a tenth past the largest seen, so the file ends up showing what
// held memory at the peak.
func peakHeapProfile(path string) func() {
	if path == "" {
		return func() {}
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		var peak uint64
		var ms runtime.MemStats
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc < peak+peak/10 {
				continue
			}
			peak = ms.HeapAlloc
			if f, err := os.Create(path); err == nil {
				pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

// memoryLimit is the soft limit on the Go heap of every command not in
// memoryLimits, unless GOMEMLIMIT says otherwise: index builds and the
// like then collect garbage before the heap doubles, which costs little
// CPU. It is soft, and a floor: a run whose live heap outgrows it gets
// half as much again (floatLimit).
const memoryLimit = 64 << 20

// memoryLimits are the commands whose limit is not memoryLimit, each
// decided by its own measurements on the 100 000 message bench store
// (0: no limit set).
//
//   - backup: 64 MiB. Its live heap peaks near 50 MB (badger while the
//     index takes in the new archive, see index.Open); with no limit the
//     heap doubled past it and the peak RSS of a +1 % run was 250-275 MB;
//     48 MiB saved 3 MB of RSS for 18 % more CPU in a full backup.
//   - restore: 96 MiB. It loads one folder's listing at a time and holds
//     a batch of folders (restore.Run), so its live heap stays near 45 MB
//     whatever the size of the store; a restore of the whole bench store
//     peaked at 184 MB RSS with no limit, 144 MB at 96 MiB for 2 % more
//     CPU, 118 MB at 64 MiB for 50 % more.
//   - mount: none here; it sizes its memory by --cache-mb (cmd_mount.go).
var memoryLimits = map[string]int64{
	"backup":  64 << 20,
	"restore": 96 << 20,
	"mount":   0,
}

// ingestMemoryLimit is the backup's heap limit while the index takes in
// the new archives, unless GOMEMLIMIT says otherwise. The archive writer's
// buffers are garbage by then, and badger's mapped tables come on top of
// the heap: on the bench store 48 MiB cut the peak RSS of a full backup
// from 114 to 96 MB for no measurable CPU (32 MiB cost 40 % more).
const ingestMemoryLimit = 48 << 20

func limitIngestMemory() {
	if os.Getenv("GOMEMLIMIT") == "" {
		limitFloor.Store(ingestMemoryLimit)
		debug.SetMemoryLimit(limitFor(ingestMemoryLimit, liveHeap()))
	}
}

func limitMemory(args []string) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	limit := int64(memoryLimit)
	if len(args) > 0 {
		if l, ok := memoryLimits[args[0]]; ok {
			limit = l
		}
	}
	if limit > 0 {
		limitFloor.Store(limit)
		debug.SetMemoryLimit(limit)
		go floatLimit()
	}
}

// limitFloor is the soft memory limit a command set (limitMemory).
var limitFloor atomic.Int64

// limitFor is the soft memory limit for a live heap: the floor, or half
// again the live heap once that outgrows it. A limit below the live heap
// makes the collector run without pause: on a store of 400 000 messages
// the live heap of a full backup passes 64 MiB (the blobs it knows,
// badger's memtables), and collecting took 16 % of its CPU.
func limitFor(floor, live int64) int64 { return max(floor, live+live/2) }

// floatLimit keeps the soft memory limit at limitFor the live heap,
// looking at it a few times a second.
func floatLimit() {
	set := limitFloor.Load()
	for range time.Tick(100 * time.Millisecond) {
		if l := limitFor(limitFloor.Load(), liveHeap()); l != set {
			debug.SetMemoryLimit(l)
			set = l
		}
	}
}

// liveHeap is the heap the last collection found live.
func liveHeap() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}
