package main

import (
	"io"

	"socktop/collect"
	"socktop/group"
	"socktop/output"
)

// writeGroups prints --group-by's table or JSON array of the snapshot's
// selected sockets, biggest groups first; checkRoot has read the key.
func writeGroups(w io.Writer, snap *collect.Snapshot, cfg *config) error {
	by, err := group.ParseBy(cfg.groupBy)
	if err != nil {
		return err
	}
	gs := group.Count(snap.Sockets, by)
	if cfg.json {
		return output.WriteGroupJSON(w, gs)
	}
	return output.WriteGroupTable(w, gs, by, !cfg.noHeader)
}

// groupBy is --group-by's key, 0 when it was not given; checkRoot has
// refused a bad one.
func groupBy(cfg *config) group.By {
	by, _ := group.ParseBy(cfg.groupBy)
	return by
}
