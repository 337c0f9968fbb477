package fs

import (
	"sort"
	"time"
)

// latestLink is the symlink in .snapshots to the newest snapshot.
const latestLink = "latest"

// snapshotNames names each snapshot time for .snapshots/: its UTC time to
// the second, or to the nanosecond for a later snapshot of the same
// second, so names are unique and stay the same as snapshots are added.
func snapshotNames(times []int64) map[int64]string {
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	names := map[int64]string{}
	taken := map[string]bool{}
	for _, t := range times {
		if _, ok := names[t]; ok {
			continue
		}
		ts := time.Unix(0, t).UTC()
		name := ts.Format(time.RFC3339)
		if taken[name] {
			name = ts.Format(time.RFC3339Nano)
		}
		taken[name] = true
		names[t] = name
	}
	return names
}

// snapshotTimes lists .snapshots/: one directory per snapshot time, each
// the tree of the servers and groups backed up then, and latest.
func (fsys *FS) snapshotTimes() ([]entry, error) {
	snaps, err := fsys.src.Snapshots("")
	if err != nil {
		return nil, err
	}
	var times []int64
	for _, s := range snaps {
		times = append(times, s.Time)
	}
	names := snapshotNames(times)
	var out []entry
	var newest int64
	for t, name := range names {
		v := view{at: t, name: name}
		out = append(out, entry{name: name, ino: inoOf("snapshot", name), mtime: t, dynamic: true,
			load: func() ([]entry, error) { return fsys.servers(v) }, acc: fsys.top, what: snapshotsDir + "/" + name})
		newest = max(newest, t)
	}
	if newest != 0 {
		out = append(out, entry{name: latestLink, ino: inoOf("latest", names[newest]), mtime: newest,
			link: names[newest], acc: fsys.top, what: snapshotsDir + "/" + latestLink})
	}
	return out, nil
}
