package ui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"socktop/collect"
	"socktop/collect/events"
	"socktop/collect/segments"
	"socktop/demo"
	"socktop/filter"
)

// maxDemoEvents bounds the narration kept per demo.
const maxDemoEvents = 200

// Demo messages, all produced by Cmds: starting and stopping a demo wait
// on sockets and child processes, which Update must never do.
type (
	demoStartedMsg struct {
		sc       *demo.Scenario
		run      *demo.Run
		reuse    bool
		err      error
		replaces *demo.Run // the run `r` stopped to re-run with the flag flipped
		stopGen  int       // demoState.stopGen when the start was asked for
	}
	demoEventMsg struct {
		run *demo.Run
		ev  demo.Event
		ok  bool // false: the channel closed, the run ended
	}
	demoStoppedMsg struct{ runs []*demo.Run }
)

// demoRegistry holds every run started, for Run to stop them all on the way
// out, even when the run's start message never reached Update.
type demoRegistry struct {
	mu     sync.Mutex
	runs   map[*demo.Run]bool
	closed bool
}

// add registers a run; it returns false once stopAll has run, and the
// caller must then stop the run itself.
func (r *demoRegistry) add(run *demo.Run) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	if r.runs == nil {
		r.runs = map[*demo.Run]bool{}
	}
	r.runs[run] = true
	return true
}

func (r *demoRegistry) remove(run *demo.Run) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.runs, run)
}

// stopAll stops every registered run and refuses new ones.
func (r *demoRegistry) stopAll() {
	r.mu.Lock()
	r.closed = true
	runs := r.runs
	r.runs = nil
	r.mu.Unlock()
	for run := range runs {
		run.Stop()
	}
}

// demoRun is one running (or ended) demo as the view shows it.
type demoRun struct {
	sc     *demo.Scenario
	run    *demo.Run
	seq    int // the run's number, so two runs of one scenario differ on screen
	ports  []uint16
	reuse  bool
	ended  bool
	events []demo.Event
	status []demo.PromiseStatus
	notes  []string // what the host's sysctls mean for this run
	// checked is how the run checks its paths ("exact (bpf)", "sampled"),
	// and lost the kernel events lost meanwhile (host-wide).
	checked string
	lost    uint64
	// What the segments section draws: the run's segments, the paths of
	// its first connection, or why nothing was captured. segLines caches
	// the section for segWidth until one of them changes.
	segs      []segments.Segment
	paths     [2][]collect.Step // client, server
	capErr    error
	segLines  []string
	segWidth  int
	segsDirty bool
	// restarting is set while `r`'s re-run of this one is starting, and
	// observed once a snapshot has been checked against the run: `r`
	// waits for both, so a burst of presses neither starts copies nor
	// flips the flag faster than the table can show a run.
	restarting bool
	observed   bool
}

// demoState is everything about demos: the catalogue, the runs, their
// panes, and the filter the table had before the first demo.
type demoState struct {
	ctx        context.Context
	reg        *demoRegistry
	catalogue  []*demo.Scenario
	runs       []*demoRun
	list       demoListView
	pane       demoPaneView
	saved      filterChange   // the user's filter before demos took over
	demoFilter *filter.Filter // the filter demos set
	err        string
	// refused is the last scenario that would not start for want of
	// root, which the pane explains until x or the next run.
	refused *demoRefusal
	fast    bool // shortened lifetimes, for tests
	seq     int  // runs started so far, for their numbers
	// stopGen counts the `x` presses: a start asked for before the last
	// one is stopped as soon as it arrives.
	stopGen int
	// scope is the stream's kernel scope, which a start widens before
	// the run makes its first socket (kernel_scope.go).
	scope *kernelScope
	// starting counts the starts on their way, so `x` knows it has
	// something to stop even before the first run shows.
	starting int
	// mode is where the view's transitions come from, which is what a
	// run started now can check its paths against.
	mode events.Mode
}

func newDemoState(ctx context.Context, reg *demoRegistry, st *Styles) demoState {
	d := demoState{ctx: ctx, reg: reg, catalogue: demo.Catalogue()}
	// The same test the runner makes: a scenario that needs root refuses
	// to start without it, and the list says so beforehand.
	d.list = demoListView{styles: st, refuses: refusals(d.catalogue)}
	d.pane = demoPaneView{styles: st}
	return d
}

// demoRefusal is a scenario that needs root, asked for without it.
type demoRefusal struct {
	sc  *demo.Scenario
	err error // the runner's ErrNeedsRoot, which says what is missing
}

// refusals are the scenarios of list this process lacks the privileges
// for, with what it lacks.
func refusals(list []*demo.Scenario) map[*demo.Scenario]string {
	m := map[*demo.Scenario]string{}
	for _, sc := range list {
		if why := demo.RootMissing(sc); why != "" {
			m[sc] = why
		}
	}
	return m
}

// active says whether the demo pane is shown.
func (d *demoState) active() bool { return len(d.runs) > 0 || d.refused != nil }

// running counts the demos not yet ended.
func (d *demoState) running() int {
	n := 0
	for _, r := range d.runs {
		if !r.ended {
			n++
		}
	}
	return n
}

// observe feeds a fresh snapshot, with the view tracker's changes, to
// every running demo (in memory, cheap).
func (d *demoState) observe(snap *collect.Snapshot, ch *collect.Changes) {
	for _, r := range d.runs {
		if r.ended {
			continue
		}
		r.run.ObserveChanges(snap, ch)
		r.status = r.run.Status()
		r.observed = true
		r.lost = r.run.Lost()
		r.syncSegments()
	}
}

// syncSegments takes the segments the run's capture read since the last
// refresh (the run drains its capture's buffer in memory) and its first
// connection's paths, and marks the section for drawing when either
// changed.
func (r *demoRun) syncSegments() {
	if r.capErr != nil {
		return
	}
	segs := r.run.Segments()
	paths := [2][]collect.Step{r.run.Path(demo.Client), r.run.Path(demo.Server)}
	if len(segs) != len(r.segs) || !sameSteps(paths[0], r.paths[0]) || !sameSteps(paths[1], r.paths[1]) {
		r.segs, r.paths, r.segsDirty = segs, paths, true
	}
}

func sameSteps(a, b []collect.Step) bool {
	return slices.EqualFunc(a, b, func(x, y collect.Step) bool {
		return x.State == y.State && x.Source == y.Source && x.At.Equal(y.At)
	})
}

// startCmd starts a scenario off the event loop. The run checks its
// paths against the view's transitions (exactly when they come from the
// kernel) and captures its segments; a capture that cannot start leaves
// the run going without them.
func (d *demoState) startCmd(sc *demo.Scenario, reuse bool, replaces *demo.Run) tea.Cmd {
	ctx, reg, fast, gen := d.ctx, d.reg, d.fast, d.stopGen
	ksc, sgen := d.scope, d.scope.issue()
	checks := demo.Checks{Events: d.mode, Segments: true}
	if checks.Events == "" {
		checks.Events = events.ModeSampled
	}
	d.starting++
	return func() tea.Msg {
		if replaces != nil {
			replaces.Stop()
			reg.remove(replaces)
		}
		// The run checks its sockets' paths in the stream: the kernel
		// leaves nothing out from before its first socket on, or the
		// run does not start.
		if err := ksc.apply(sgen, events.Scope{}); err != nil {
			return demoStartedMsg{sc: sc, reuse: reuse, err: fmt.Errorf("the kernel's event scope: %w", err), replaces: replaces, stopGen: gen}
		}
		run, err := demo.StartWith(ctx, sc, demo.Config{ReuseAddr: reuse, Fast: fast}, checks)
		if err == nil && !reg.add(run) {
			run.Stop()
			err = errors.New("socktop is quitting")
		}
		return demoStartedMsg{sc: sc, run: run, reuse: reuse, err: err, replaces: replaces, stopGen: gen}
	}
}

// waitEvent waits for a run's next narration event.
func waitEvent(run *demo.Run) tea.Cmd {
	return func() tea.Msg {
		ev, ok := <-run.Events()
		return demoEventMsg{run: run, ev: ev, ok: ok}
	}
}

// stopCmd stops runs off the event loop.
func (d *demoState) stopCmd(runs []*demo.Run) tea.Cmd {
	reg := d.reg
	return func() tea.Msg {
		for _, r := range runs {
			r.Stop()
			reg.remove(r)
		}
		return demoStoppedMsg{runs: runs}
	}
}

func (d *demoState) find(run *demo.Run) *demoRun {
	for _, r := range d.runs {
		if r.run == run {
			return r
		}
	}
	return nil
}

// demoIntent is what a demo message or key asks of the root model, which
// alone changes the mode, the filter and the layout.
type demoIntent struct {
	filter    *filterChange // the table's new filter, when it changes
	leaveList bool          // back from the scenario list to the table
	relayout  bool          // a run came or went: the panes change size
	status    string        // the footer's answer to the key
	// capErr is why a run started without its segment capture, for the
	// header's notices (told once, like the detail view's).
	capErr error
	cmd    tea.Cmd
}

// filterChange is a filter for the table and the text the header shows
// for it; a nil f is no filter.
type filterChange struct {
	f    *filter.Filter
	text string
}

// update handles the demo messages; current is the table's filter.
func (d *demoState) update(msg tea.Msg, current filterChange) demoIntent {
	switch msg := msg.(type) {
	case demoStartedMsg:
		d.starting = max(d.starting-1, 0)
		if msg.replaces != nil {
			d.drop(msg.replaces)
		}
		if errors.Is(msg.err, demo.ErrNeedsRoot) {
			// Not a failure: the scenario cannot run here, and the pane
			// says why and how to run it, with its lesson to read.
			d.err = ""
			d.refused = &demoRefusal{sc: msg.sc, err: msg.err}
			return d.refilter(current, demoIntent{status: msg.sc.Name + " needs root: the demo pane says why"})
		}
		if msg.err != nil {
			d.err = msg.sc.Name + ": " + msg.err.Error()
			return d.refilter(current, demoIntent{status: d.err})
		}
		if msg.stopGen != d.stopGen {
			// x was pressed while this one was starting.
			return d.refilter(current, demoIntent{cmd: d.stopCmd([]*demo.Run{msg.run})})
		}
		d.err = ""
		d.refused = nil
		d.seq++
		r := &demoRun{sc: msg.sc, run: msg.run, seq: d.seq, ports: msg.run.Ports(), reuse: msg.reuse,
			status: msg.run.Status(), notes: msg.run.Notes(), checked: msg.run.Checked(),
			capErr: msg.run.CaptureErr(), segsDirty: true}
		d.runs = append(d.runs, r)
		return d.refilter(current, demoIntent{cmd: waitEvent(msg.run), capErr: r.capErr})
	case demoEventMsg:
		r := d.find(msg.run)
		if r == nil {
			return demoIntent{}
		}
		if !msg.ok {
			r.ended = true
			return demoIntent{}
		}
		r.events = append(r.events, msg.ev)
		if len(r.events) > maxDemoEvents {
			r.events = r.events[len(r.events)-maxDemoEvents:]
		}
		return demoIntent{cmd: waitEvent(msg.run)}
	case demoStoppedMsg:
		for _, run := range msg.runs {
			d.drop(run)
		}
		return d.refilter(current, demoIntent{})
	}
	return demoIntent{}
}

func (d *demoState) drop(run *demo.Run) {
	for i, r := range d.runs {
		if r.run == run {
			d.runs = append(d.runs[:i], d.runs[i+1:]...)
			return
		}
	}
}

// refilter adds to in what the runs now ask of the table: their ports
// as its filter, or, once no demo is left, the filter the user had
// before them, unless the user has set another since. current is the
// table's filter now.
func (d *demoState) refilter(current filterChange, in demoIntent) demoIntent {
	in.relayout = true
	var ports []uint16
	for _, r := range d.runs {
		ports = append(ports, r.ports...)
	}
	f := filter.Ports(ports...)
	switch {
	case f == nil:
		if d.demoFilter != nil && current.text == d.demoFilter.String() {
			saved := d.saved
			in.filter = &saved
		}
		d.demoFilter = nil
	case d.demoFilter == nil:
		d.saved = current
		fallthrough
	case f.String() != d.demoFilter.String():
		d.demoFilter = f
		in.filter = &filterChange{f: f, text: f.String()}
	}
	return in
}

// listKey handles keys in the scenario list: a scenario's key starts it,
// before the scroll keys, whose letters (j, k, g) are scenario keys.
func (d *demoState) listKey(msg tea.KeyPressMsg, k *KeyMap) demoIntent {
	for i, b := range k.Scenarios {
		if key.Matches(msg, b) {
			sc := d.catalogue[i]
			return demoIntent{leaveList: true, cmd: d.startCmd(sc, sc.ReuseAddr, nil)}
		}
	}
	if d.list.scrollKey(msg, k) {
		return demoIntent{}
	}
	return demoIntent{leaveList: key.Matches(msg, k.Back, k.Demos)}
}

// listHelp is the footer of the scenario list; it offers scrolling only
// when the list does not fit.
func (d *demoState) listHelp(k *KeyMap) []key.Binding {
	if d.list.scrolls() {
		return []key.Binding{k.StartDemo, k.listScroll(), k.Back, k.Quit}
	}
	return []key.Binding{k.StartDemo, k.Back, k.Quit}
}

// reuseRun is the run `r` acts on: the newest one whose scenario depends
// on SO_REUSEADDR, or nil.
func (d *demoState) reuseRun() *demoRun {
	for i := len(d.runs) - 1; i >= 0; i-- {
		if r := d.runs[i]; r.sc.UsesReuseAddr {
			return r
		}
	}
	return nil
}

// tableKey handles the demo keys of the table: r, x and the pane's
// scroll keys; paneHeight is the demo pane's. Each says what it did, or
// why it did nothing.
func (d *demoState) tableKey(msg tea.KeyPressMsg, k *KeyMap, paneHeight int) demoIntent {
	switch {
	case key.Matches(msg, k.ReuseAddr):
		r := d.reuseRun()
		switch {
		case r == nil && len(d.runs) == 0:
			return demoIntent{status: "r: no demo is running (d lists them; server-restart is the one r changes)"}
		case r == nil:
			return demoIntent{status: "r: none of the running demos depends on SO_REUSEADDR"}
		case r.restarting:
			// The re-run already asked for is on its way; starting
			// another would run two copies with the same setting.
			return demoIntent{status: "r: " + r.sc.Name + " is already restarting"}
		case !r.observed:
			return demoIntent{status: "r: " + r.sc.Name + " has just started; press r again once the table shows it"}
		}
		r.restarting = true
		return demoIntent{status: "r: restarting " + r.sc.Name + " with SO_REUSEADDR " + onOff(!r.reuse),
			cmd: d.startCmd(r.sc, !r.reuse, r.run)}
	case key.Matches(msg, k.StopDemo):
		if len(d.runs) == 0 && d.starting == 0 && d.refused != nil {
			name := d.refused.sc.Name
			d.refused = nil
			return demoIntent{relayout: true, status: "x: closed what " + name + " needs"}
		}
		d.refused = nil
		if len(d.runs) == 0 && d.starting == 0 {
			return demoIntent{status: "x: no demo is running"}
		}
		d.stopGen++
		in := demoIntent{status: "x: stopping " + strconv.Itoa(len(d.runs)+d.starting) + " demo(s)"}
		if len(d.runs) == 0 {
			return in
		}
		runs := make([]*demo.Run, len(d.runs))
		for i, r := range d.runs {
			runs[i] = r.run
		}
		in.cmd = d.stopCmd(runs)
		return in
	case key.Matches(msg, k.DemoScrollUp, k.DemoScrollDown):
		if !d.active() || paneHeight == 0 {
			return demoIntent{status: "[ ]: no demo pane to scroll"}
		}
		step := max(paneHeight/2, 1)
		if key.Matches(msg, k.DemoScrollUp) {
			step = -step
		}
		d.pane.scrollBy(step)
	}
	return demoIntent{}
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
