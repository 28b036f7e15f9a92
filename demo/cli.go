package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"socktop/collect"
	"socktop/collect/events"
)

// RunOptions says how RunHeadless runs a scenario.
type RunOptions struct {
	// Config is the run's port, SO_REUSEADDR choice and pace.
	Config Config
	// JSON prints NDJSON, one object a line (start, event, seen, result),
	// instead of text.
	JSON bool
	// Timeout bounds the wait for the promises once the steps have ended;
	// 0 means a minute.
	Timeout time.Duration
	// Mode chooses the kernel events' reader ("" the best available, see
	// events.Options); ModeSampled checks from snapshots only.
	Mode events.Mode
}

// RunHeadless runs sc against snapshots of src and the kernel's events,
// printing the lesson, every socket call as it happens, each promise as it
// is kept, then the state changes observed, each side's path, the
// segments on the wire and every promise, seen or missed, to stdout;
// errors and the notices of what could not be read go to stderr. It
// reports whether every promise it could check was kept. It stops the
// run, and with it every socket and child, closes the event stream and
// the segment capture before it returns, and closes src when it is an
// io.Closer; ctx ends the run early.
func RunHeadless(ctx context.Context, sc *Scenario, o RunOptions, src collect.Source, stdout, stderr io.Writer) bool {
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	return runHeadless(ctx, runOptions{sc: sc, cfg: o.Config, json: o.JSON, timeout: timeout, mode: o.Mode}, src, stdout, stderr) == 0
}

// runOptions is RunOptions with the scenario, as the tests build it.
type runOptions struct {
	sc      *Scenario
	cfg     Config
	json    bool
	timeout time.Duration
	mode    events.Mode
	// ran, when set, is given the run once it has stopped.
	ran func(*Run)
}

// printer writes the run's output, one line at a time, as text or JSON.
type printer struct {
	mu    sync.Mutex
	w     io.Writer
	json  bool
	start time.Time
}

func (p *printer) line(text string, obj map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		if obj == nil {
			return // text-only line: its content is in another object
		}
		b, _ := json.Marshal(obj)
		p.w.Write(append(b, '\n'))
		return
	}
	fmt.Fprintln(p.w, text)
}

func (p *printer) rel(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return fmt.Sprintf("+%.2fs", t.Sub(p.start).Seconds())
}

// runHeadless runs one scenario against src and prints it all; it returns
// 0 when every promise was kept and 1 otherwise.
func runHeadless(ctx context.Context, o runOptions, src snapshotter, stdout, stderr io.Writer) int {
	if c, ok := src.(io.Closer); ok {
		defer c.Close()
	}
	// Said before the kernel's event stream is opened, so a run without
	// root prints one line, not the stream's notices as well.
	if err := o.sc.privileged(); err != nil {
		fmt.Fprintf(stderr, "demo %s: %v\n", o.sc.Name, err)
		return 1
	}
	// The stream opens before the run so that its first connect is seen.
	stream, err := events.Open(events.Options{Mode: o.mode})
	if err != nil {
		fmt.Fprintf(stderr, "demo %s: %v\n", o.sc.Name, err)
		return 1
	}
	defer stream.Close()
	for _, n := range stream.Notices() {
		fmt.Fprintf(stderr, "socktop: %s\n", n)
	}
	r, err := start(ctx, o.sc, o.cfg, ReadHost(), Checks{Events: stream.Mode(), Segments: true})
	if err != nil {
		fmt.Fprintf(stderr, "demo %s: %v\n", o.sc.Name, err)
		return 1
	}
	defer r.Stop()
	if err := r.CaptureErr(); err != nil && !errors.Is(err, errNoCapture) {
		fmt.Fprintf(stderr, "socktop: segments off, no sequence diagram: %v; capturing needs CAP_NET_RAW (run as root, or setcap cap_net_raw+ep socktop)\n", err)
	}
	pr := &printer{w: stdout, json: o.json, start: r.started}
	cfg := r.Config()
	notes := r.Notes()
	if notes == nil {
		notes = []string{}
	}
	pr.line(fmt.Sprintf("demo %s: %s\nports %v, SO_REUSEADDR %v, fast %v", o.sc.Name, o.sc.Title, r.Ports(), cfg.ReuseAddr, cfg.Fast),
		map[string]any{"type": "start", "scenario": o.sc.Name, "ports": r.Ports(), "reuseaddr": cfg.ReuseAddr, "fast": cfg.Fast, "notes": notes, "lesson": o.sc.Lesson, "checked": r.Checked()})
	// The lesson is what a learner came for: print it before the calls
	// it explains (JSON readers have it in the start object).
	pr.line("\n"+indent(o.sc.Lesson, "  ")+"\n", nil)
	for _, n := range notes {
		pr.line("note: "+n, nil)
	}
	pr.line("checked: "+r.Checked(), nil)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ev := range r.Events() {
			errText := ""
			if ev.Err != nil {
				errText = ev.Err.Error()
			}
			pr.line(fmt.Sprintf("%8s  %s", pr.rel(ev.At), ev),
				map[string]any{"type": "event", "at": ev.At, "endpoint": ev.Endpoint, "call": ev.Call, "result": ev.Result, "error": errText})
		}
	}()
	interval := 100 * time.Millisecond
	if cfg.Fast {
		interval = 50 * time.Millisecond
	}
	werr := watch(ctx, r, src, stream.Feed, interval, o.timeout, func(st PromiseStatus) {
		pr.line(fmt.Sprintf("%8s  seen: %s", pr.rel(st.At), st.Promise),
			map[string]any{"type": "seen", "promise": st.Promise.String(), "at": st.At})
	})
	wg.Wait()
	if err := stream.Err(); err != nil {
		fmt.Fprintf(stderr, "socktop: kernel events stopped early: %v\n", err)
	}
	if o.ran != nil {
		defer o.ran(r)
	}
	return report(pr, r, werr, stderr)
}

// report prints the transitions and the promises and returns the exit
// status.
func report(pr *printer, r *Run, werr error, stderr io.Writer) int {
	trans := r.RoleTransitions()
	jt := make([]map[string]any, 0, len(trans))
	pr.line("transitions:", nil)
	for _, t := range trans {
		pr.line(fmt.Sprintf("%8s  %s", pr.rel(t.At), t), nil)
		jt = append(jt, map[string]any{"at": t.At, "role": t.Role, "proto": t.Key.Proto.String(),
			"local": t.Key.Local.String(), "remote": t.Key.Remote.String(), "from": stateName(t.From), "to": stateName(t.To)})
	}
	jpaths := printPaths(pr, r)
	jsegs := printSegments(pr, r)
	status := r.Status()
	ok := werr == nil && r.Err() == nil
	jp := make([]map[string]any, 0, len(status))
	pr.line("promises:", nil)
	for _, st := range status {
		mark, when := "[x]", pr.rel(st.At)
		switch {
		case st.Unchecked:
			mark, when = "[-]", "unchecked"
		case !st.Seen:
			mark, when, ok = "[ ]", "missed", false
		}
		text := fmt.Sprintf("  %s %s  %s: %s", mark, when, st.Promise, st.Why)
		if st.Note != "" {
			text += " (" + st.Note + ")"
		}
		pr.line(text, nil)
		var at any
		if st.Seen {
			at = st.At
		}
		jpr := map[string]any{"promise": st.Promise.String(), "role": st.Role, "state": stateName(st.State),
			"seen": st.Seen, "at": at, "why": st.Why, "note": st.Note, "checked": !st.Unchecked}
		if len(st.Path) > 0 {
			names := make([]string, len(st.Path))
			for i, s := range st.Path {
				names[i] = stateName(s)
			}
			jpr["path"] = names
		}
		jp = append(jp, jpr)
	}
	tables, terr := printTables(pr, r.Tables())
	if terr != nil {
		fmt.Fprintf(stderr, "demo %s: %v\n", r.sc.Name, terr)
	}
	errText := ""
	for _, e := range []error{werr, r.Err()} {
		if e != nil {
			errText = e.Error()
			fmt.Fprintf(stderr, "demo %s: %v\n", r.sc.Name, e)
		}
	}
	pr.line(fmt.Sprintf("result: %s", map[bool]string{true: "every promise kept", false: "promises missed"}[ok]),
		map[string]any{"type": "result", "scenario": r.sc.Name, "ok": ok, "checked": r.Checked(), "promises": jp, "transitions": jt,
			"paths": jpaths, "segments": jsegs, "tables": tables, "events_lost": r.Lost(), "error": errText})
	if ok {
		return 0
	}
	return 1
}

// stateName is the state's name, or "" for "none" (first seen, gone).
func stateName(s collect.State) string {
	if s == collect.StateUnknown {
		return ""
	}
	return s.Canonical().String()
}

// indent word-wraps text at 76 columns and prefixes every line with pre;
// paragraphs (blank-line separated) stay apart.
func indent(text, pre string) string {
	const width = 76
	var b strings.Builder
	for pi, para := range strings.Split(strings.TrimSpace(text), "\n\n") {
		if pi > 0 {
			b.WriteString("\n\n")
		}
		col := 0
		for _, w := range strings.Fields(para) {
			switch {
			case col == 0:
				b.WriteString(pre)
				col = len(pre)
			case col+1+len(w) > width:
				b.WriteString("\n" + pre)
				col = len(pre)
			default:
				b.WriteByte(' ')
				col++
			}
			b.WriteString(w)
			col += len(w)
		}
	}
	return b.String()
}
