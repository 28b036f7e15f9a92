package main

import (
	"fmt"

	"socktop/collect/events"
)

// eventsNames are the values of --events, the best reader first after
// auto.
var eventsNames = []string{"auto", "bpf", "tracefs", "sampled"}

// eventsMode turns a --events value into the stream's Mode: auto is ""
// (try BPF, then tracefs, then sampled).
func eventsMode(name string) (events.Mode, error) {
	switch name {
	case "auto":
		return "", nil
	case "bpf":
		return events.ModeBPF, nil
	case "tracefs":
		return events.ModeTracefs, nil
	case "sampled":
		return events.ModeSampled, nil
	}
	return "", fmt.Errorf("--events %q: want auto, bpf, tracefs or sampled", name)
}

// openEvents starts the live view's kernel event stream: state changes
// from the reader --events names, and closed connections. A reader that
// was asked for by name and cannot run is an error; auto falls back and
// the stream's notices say why.
func openEvents(name string) (*events.Stream, error) {
	mode, err := eventsMode(name)
	if err != nil {
		return nil, err
	}
	st, err := events.Open(events.Options{Mode: mode, Closed: true})
	if err != nil {
		return nil, fmt.Errorf("--events %s: %w", name, err)
	}
	return st, nil
}
