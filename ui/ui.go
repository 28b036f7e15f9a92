// Package ui is socktop's live terminal view: a header with counts per
// state, the socket table with TCPView-style change marks, a transition log,
// a detail view, a filter prompt and the demo panes. It is the only package
// that knows about terminals (bubbletea, lipgloss, bubbles).
package ui

import (
	"context"
	"errors"
	"fmt"
	"time"

	tea "charm.land/bubbletea/v2"

	"socktop/collect"
	"socktop/group"
)

// ErrNoSource is returned by Run when the Config has no Source.
var ErrNoSource = errors.New("ui: no source")

// Config configures the live view.
type Config struct {
	Source collect.Source
	Info   collect.InfoSource // may be nil
	// Events is the kernel's event stream (state changes, closed
	// connections), which the caller opens and closes; nil leaves the
	// transitions sampled.
	Events   EventStream
	Interval time.Duration // 100ms..10s, default 1s
	Filter   string        // initial filter (already validated by main)
	Host     string
	NoColor  bool // NO_COLOR set
	// Narrow hides what the command line's -t -u -4 -6 -l leave out; the
	// Source should still give every socket, for the demos.
	Narrow Narrow
	// Rates starts the view with the Send/s and Recv/s columns shown (the
	// t key toggles them). While they are, the Source is asked for
	// tcp_info on every TCP socket, when it is a collect.TCPInfoSetter.
	Rates bool
	// GroupBy opens the view on the group table by this key (--group-by);
	// 0 opens it on the socket table.
	GroupBy group.By
	// ListenCounters reads the listen queue counters (ListenOverflows and
	// the like) for the header's rates, in the collection's Cmd; nil
	// shows none. ListenCountersOf names the namespace they are of when
	// the table shows more than that one ("host netns" under
	// --all-netns); "" otherwise.
	ListenCounters   func() (collect.ListenCounters, error)
	ListenCountersOf string
	// Names is what the table names (-r, --services) and how hosts are
	// looked up.
	Names Names
	// TuneGC lets the view set the collector's heap goal by the live
	// heap it holds (memory.go); main sets it unless GOGC is set, which
	// is then the user's to choose.
	TuneGC bool
}

// frameRate is how many times a second the renderer looks for a new
// frame. Each look is a wakeup of the process whether or not the frame
// changed, and bubbletea's default of 60 cost a live view that redraws
// once a second about a percent of a core (docs/performance.md); 30
// still shows every key repeat of a held key.
const frameRate = 30

// Run runs the live view until q or ctrl-c (or ctx is cancelled). Every
// demo started from the view is stopped before Run returns, also when the
// program panics.
func Run(ctx context.Context, cfg Config) (err error) {
	if cfg.Source == nil {
		return ErrNoSource
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	reg := &demoRegistry{}
	defer reg.stopAll()
	m, err := newModel(ctx, cfg, reg)
	if err != nil {
		return fmt.Errorf("ui: %w", err)
	}
	defer m.closeSegments()
	p := tea.NewProgram(m, tea.WithContext(ctx), tea.WithFPS(frameRate))
	_, err = p.Run()
	return runErr(err)
}

// runErr decides what the program's end means for the caller: a panic or
// an event-loop failure is an error (bubbletea wraps those in
// ErrProgramKilled too, which is why that alone cannot mean success); a
// cancelled context (SIGINT, SIGTERM) or an interrupt is a normal quit.
func runErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, tea.ErrProgramPanic):
		return fmt.Errorf("ui: %w", err)
	case errors.Is(err, tea.ErrInterrupted), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return nil
	}
	return fmt.Errorf("ui: %w", err)
}
