package ui

import (
	"context"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"socktop/collect"
	"socktop/collect/events"
	"socktop/collect/segments"
	"socktop/filter"
)

// intervalSteps are the refresh intervals + and - step through.
var intervalSteps = []time.Duration{
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second,
}

// markRefreshes is how many refreshes a new, changed or gone row stays
// marked; gone rows are dropped after it.
const markRefreshes = 3

// Bounds for heavy churn: a refresh with more changes than maxCarriedMarks
// marks its rows for that refresh only, and at most maxGone gone rows are
// kept.
const (
	maxCarriedMarks = 10000
	maxGone         = 10000
)

// mode is what fills the screen under the header.
type mode uint8

const (
	modeTable mode = iota
	modeDetail
	modeHelp
	modeDemos
	modeClosed
	modeDiagram
)

// Messages. Every one that comes back from a Cmd carries what it needs, so
// Update never waits on I/O.
type (
	// tickMsg asks for a collection; gen tells stale ticks (from before an
	// interval change) from current ones.
	tickMsg struct{ gen uint64 }
	// snapMsg is the result of one collection: the snapshot, what the
	// event stream read meanwhile, and the segments the detail view's
	// capture (of generation segGen) saw.
	snapMsg struct {
		snap   collect.Snapshot
		err    error
		ev     drained
		segGen uint64
		segs   []segments.Segment
		// counters is the listen counters read after the snapshot.
		counters counterReading
		// kgen is the kernel filter's generation the snapshot was
		// taken with (see kernelState); drainOnly says no snapshot was
		// taken, only the event stream read (a paused view, see
		// pauseSkips).
		kgen      uint64
		drainOnly bool
		// patched says the snapshot was built without a dump, from the
		// last one and the kernel's word on what changed (gate_patch.go);
		// carry and carryClosed are what was read of the namespace after
		// its lookups, for the next patch to ask for.
		patched     bool
		carry       []collect.StateEvent
		carryClosed []collect.Closed
		// origin is, for each row of a patched snapshot, the row of
		// originOf (the table patched) it was kept from, or -1; nil when
		// the patch cannot say (see collect.PatchCounts.Origin).
		origin   []int32
		originOf *collect.Snapshot
		// stat is the collector's namespace counters, read before the
		// dump (see gate.go).
		stat gateStat
		// scopeErr says why the stream's kernel side could not narrow
		// to the walk's scope (kernel_scope.go).
		scopeErr error
	}
	// infoMsg is tcp_info for the socket the detail view shows.
	infoMsg struct {
		key  collect.Key
		info *collect.TCPInfo
		err  error
	}
)

// markAge is a row mark and the refresh it expires at.
type markAge struct {
	mark  rowMark
	until int
}

// goneSock is a socket that left the table, kept for a few refreshes.
type goneSock struct {
	s     collect.Socket
	until int
}

// model is the root model of the live view; every pane is a plain struct
// it lays out and renders.
type model struct {
	src     collect.Source
	infoSrc collect.InfoSource
	events  EventStream // nil: transitions are sampled
	// kscope narrows what the stream's kernel side hands over; nil when
	// the stream cannot. scopeTold is set once its failure is told.
	kscope    *kernelScope
	scopeTold bool
	ctx       context.Context
	// after schedules msg after d; tea.Tick, replaced in tests so they do
	// not wait.
	after func(d time.Duration, msg tea.Msg) tea.Cmd

	keys   KeyMap
	styles *Styles
	help   help.Model
	// foot is the last footer's help line (view.go).
	foot footCache

	width, height int
	mode          mode

	interval time.Duration
	gen      uint64
	inFlight bool
	paused   bool
	rlog     *refreshLog // SOCKTOP_REFRESH_LOG, nil when unset
	// rlogBeside times the peeks made beside a walk in flight, into the
	// same file.
	rlogBeside *refreshLog
	// memPeak is the largest table since the last release of memory,
	// memReleases how many were made (memory.go).
	memPeak, memReleases int
	// gc is the heap goal's tuning (memory.go); off unless Config.TuneGC.
	gc gcTuner

	snap      *collect.Snapshot // what is shown
	pending   *collect.Snapshot // the newest one received while paused
	refreshes int
	marks     map[collect.Key]markAge // marks carried from earlier refreshes
	marksPeak int                     // most entries marks has held (see fitMap)
	curMarks  []collect.Mark          // this refresh's marks, parallel to snap.Sockets
	gone      []goneSock
	samples   []sample
	lastErr   string
	// lost counts the kernel events and destroy records lost so far.
	lost uint64
	// snapNotices are the last notices a snapshot gave; extraNotices
	// are the event stream's and the segment capture's, each told once.
	snapNotices, extraNotices []string

	tracker changeTracker // every snapshot received goes through it
	// fed is the snapshot last given to the tracker, which it diffs the
	// next against; spare is the array of one nobody holds any more, for
	// the source to fill (see release); kern is the kernel filter asked
	// for; quiet counts the refreshes in a row whose event drain was
	// empty, paused the ticks and events since the last snapshot taken
	// while paused.
	fed          *collect.Snapshot
	spare        []collect.Socket
	kern         kernelState
	quiet        int
	curChanged   bool // this refresh's marks have a new or changed row
	pausedTicks  int
	pausedEvents int
	pendingMarks []collect.Mark // pending's marks, from the snapshot before it
	held         *heldChanges   // what the others received while paused changed
	narrow       Narrow         // the command line's -t -u -4 -6 -l
	// rates is whether the rate columns are shown, which is whether the
	// collections ask for tcp_info; rateTr computes the rates, in the
	// collection's Cmd, off the event loop.
	rates  bool
	rateTr *collect.RateTracker

	filter     *filter.Filter
	filterText string

	rows     []row
	selKey   collect.Key
	selected int

	hist   *history
	sorter sorter
	spaces nsCount // the network namespaces of the snapshot
	// rowsOf and rowsSig are the snapshot and the sort and filter the
	// rows were last built from; origin and originOf are the patch the
	// next rebuild may carry them over by (rows_incremental.go), and
	// rowTo and rowAdd its scratch space; walkOrig holds the origins a
	// walk's pairing gives (walkOrigin).
	rowsOf   *collect.Snapshot
	rowsSig  rowSig
	origin   []int32
	originOf *collect.Snapshot
	rowTo    []int32
	rowAdd   []row
	walkOrig []int32
	// rowsCarried counts the rebuilds that carried the rows over, for
	// the tests.
	rowsCarried int
	// peers finds the other ends in snap; peersOf is the snapshot it was
	// built on (see peerIndex).
	peers   collect.Peers
	peersOf *collect.Snapshot

	header headerView
	table  tableView
	log    logView
	detail detailView
	closed closedView
	prompt promptView
	seg    segState
	// diagram is the state-diagram mode's view (diagram.go).
	diagram diagramView
	// group is the group table, shown over the socket table's place
	// while a group key is chosen (group_view.go).
	group groupView

	demos demoState

	frame string // the pre-built screen View returns
	// above is the frame without its footer, kept so a key typed at the
	// prompt redraws only the prompt.
	above string
	hs    heights
	// flash is the answer to the last key when it did nothing visible
	// (r with no demo to restart, x with none running); the footer shows
	// it until the next key.
	flash string
	// kill is K's question and the kill it runs (kill.go).
	kill killState
	// listen is the listeners' health and the host's listen counters
	// (listeners.go).
	listen listenState
	// names is what the table names and the host lookups (names.go).
	names nameState
	// gate decides whether a refresh walks the table or peeks at the
	// rows shown (gate.go).
	gate gateState
	// drainBuf is the array scoped drains read the stream into
	// (events.go).
	drainBuf drainBuf
}

// newModel builds the model; ctx bounds the collections it starts.
func newModel(ctx context.Context, cfg Config, reg *demoRegistry) (*model, error) {
	st := DefaultStyles(cfg.NoColor)
	m := &model{
		src:      cfg.Source,
		infoSrc:  cfg.Info,
		events:   cfg.Events,
		tracker:  &collect.Tracker{},
		ctx:      ctx,
		after:    func(d time.Duration, msg tea.Msg) tea.Cmd { return tea.Tick(d, func(time.Time) tea.Msg { return msg }) },
		gc:       gcTuner{on: cfg.TuneGC},
		styles:   &st,
		help:     help.New(),
		width:    80,
		height:   24,
		interval: cfg.Interval,
		narrow:   cfg.Narrow,
		rates:    cfg.Rates,
		rateTr:   &collect.RateTracker{},
		marks:    map[collect.Key]markAge{},
		hist:     newHistory(),
		rlog:     newRefreshLog(),
		names:    newNameState(cfg.Names),
	}
	if m.interval == 0 {
		m.interval = time.Second
	}
	m.interval = min(max(m.interval, intervalSteps[0]), intervalSteps[len(intervalSteps)-1])
	if cfg.NoColor {
		m.help.Styles = help.Styles{}
	}
	// Two spaces between the help screen's columns, so the table's four
	// groups fit 80 columns side by side.
	m.help.FullSeparator = "  "
	m.rlogBeside = m.rlog.sibling()
	m.header = headerView{styles: m.styles, host: cfg.Host, source: "-"}
	m.table = tableView{styles: m.styles, sortCol: colLocal}
	m.log = logView{styles: m.styles}
	m.detail = detailView{styles: m.styles}
	m.closed = closedView{styles: m.styles}
	hostAddrs(&m.peers)
	m.listen.read, m.listen.of = cfg.ListenCounters, cfg.ListenCountersOf
	m.header.events = eventsText(m.events, nil)
	if m.events != nil {
		m.extraNotices = append(m.extraNotices, m.events.Notices()...)
		m.setNotice()
	}
	m.diagram = diagramView{styles: m.styles}
	m.group = groupView{styles: m.styles, by: cfg.GroupBy}
	if ss, ok := cfg.Events.(scopeSetter); ok {
		m.kscope = &kernelScope{set: ss}
	}
	m.demos = newDemoState(ctx, reg, m.styles)
	m.demos.scope = m.kscope
	m.demos.mode = events.ModeSampled
	if m.events != nil {
		m.demos.mode = m.events.Mode()
	}
	m.keys = DefaultKeyMap(m.demos.catalogue)
	m.prompt = newPrompt(m.styles, m.keys.Prompt)
	if cfg.Filter != "" {
		f, err := filter.Parse(cfg.Filter)
		if err != nil {
			return nil, err
		}
		m.filter, m.filterText = f, cfg.Filter
	}
	m.layout()
	m.render()
	return m, nil
}

// Init starts the first collection and the tick chain.
func (m *model) Init() tea.Cmd {
	return tea.Batch(m.collectCmd(), m.tickCmd())
}

func (m *model) tickCmd() tea.Cmd {
	return m.after(m.interval, tickMsg{gen: m.gen})
}

// infoCmd fetches tcp_info for one socket for the detail view.
func (m *model) infoCmd(k collect.Key) tea.Cmd {
	src, ctx := m.infoSrc, m.ctx
	return func() tea.Msg {
		info, err := src.Info(ctx, k)
		return infoMsg{key: k, info: info, err: err}
	}
}

// Update handles one message and rebuilds the screen. A key typed at the
// prompt changes only the prompt, so only the prompt is drawn again: a
// long paste into a terminal without bracketed paste arrives as thousands
// of key presses.
func (m *model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if m.promptOnly(msg) {
		footer := m.hs.footer
		cmd := m.update(msg)
		if m.prompt.active && m.hs.footer == footer {
			m.renderPrompt()
			return m, cmd
		}
		m.render()
		return m, cmd
	}
	cmd := m.update(msg)
	m.render()
	switch s := msg.(type) {
	case snapMsg:
		switch {
		case s.patched:
			m.rlog.done(len(s.snap.Sockets), "patch")
		case !s.drainOnly:
			m.rlog.done(len(s.snap.Sockets), "walk")
		}
	case peekMsg:
		if s.beside {
			m.rlogBeside.done(len(s.keys), "peek")
		} else {
			m.rlog.done(len(s.keys), "peek")
		}
	}
	// The frame just drawn named what it could; the lookups are for
	// the hosts it showed as addresses.
	return m, tea.Batch(cmd, m.lookupCmds())
}

// promptOnly says whether msg edits the prompt's text and nothing else.
func (m *model) promptOnly(msg tea.Msg) bool {
	if !m.prompt.active {
		return false
	}
	switch msg := msg.(type) {
	case tea.PasteMsg:
		return true
	case tea.KeyPressMsg:
		p := &m.keys.Prompt
		return !key.Matches(msg, p.Apply, p.Cancel, p.Quit)
	}
	return false
}

func (m *model) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.layout()
		m.fixScroll()
		return nil
	case tickMsg:
		if msg.gen != m.gen {
			return nil // stale: the interval changed since
		}
		var cmds []tea.Cmd
		switch {
		case m.inFlight:
			if m.mayPeekBeside() {
				cmds = append(cmds, m.peekBesideCmd())
			}
		case m.pauseSkips():
			cmds = append(cmds, m.drainCmd())
		default:
			cmds = append(cmds, m.refreshCmd())
		}
		cmds = append(cmds, m.tickCmd())
		return tea.Batch(cmds...)
	case snapMsg:
		return m.received(msg)
	case peekMsg:
		return m.peeked(msg)
	case memReleaseMsg:
		return freeOSMemory
	case cgroupMsg:
		if msg.id == m.detail.cgroup.id {
			m.detail.cgroup = msg
		}
		return nil
	case infoMsg:
		if m.mode == modeDetail && msg.key == m.selKey {
			m.detail.fetching = false
			m.detail.info, m.detail.infoErr = msg.info, msg.err
		}
		return nil
	case hostMsg:
		m.hostArrived(msg)
		return nil
	case segStartMsg:
		return m.segStarted(msg)
	case killDoneMsg:
		return m.killDone(msg)
	case tea.MouseWheelMsg:
		if m.mode == modeTable && m.group.on() {
			switch {
			case key.Matches(msg, m.keys.WheelUp):
				m.group.move(-3)
			case key.Matches(msg, m.keys.WheelDown):
				m.group.move(3)
			}
			return nil
		}
		switch {
		case m.mode == modeTable && key.Matches(msg, m.keys.WheelUp):
			m.move(-3)
		case m.mode == modeTable && key.Matches(msg, m.keys.WheelDown):
			m.move(3)
		case m.mode == modeDemos && key.Matches(msg, m.keys.WheelUp):
			m.demos.list.scrollBy(-3)
		case m.mode == modeDemos && key.Matches(msg, m.keys.WheelDown):
			m.demos.list.scrollBy(3)
		}
		return nil
	case tea.KeyPressMsg:
		wasDetail := m.mode == modeDetail
		cmd := m.handleKey(msg)
		if wasDetail && m.mode != modeDetail {
			// The capture is of the detail view's connection: leaving
			// the view, however, ends it.
			cmd = tea.Batch(cmd, m.stopSegments())
		}
		return cmd
	case tea.PasteMsg:
		if m.prompt.active {
			return m.prompt.update(msg)
		}
		return nil
	}
	var cmd tea.Cmd
	if m.prompt.active {
		// The clipboard's text, or why it could not be read, for ctrl+v.
		cmd = m.prompt.update(msg)
	}
	return tea.Batch(cmd, m.applyDemo(m.demos.update(msg, m.tableFilter())))
}

// openDetail shows the selected socket and asks for its tcp_info.
func (m *model) openDetail() tea.Cmd {
	if len(m.rows) == 0 {
		return nil
	}
	m.mode = modeDetail
	m.detail.offset = 0
	r := m.rows[m.selected]
	// The selected row, not a key left behind by a socket that went.
	m.selKey = r.s.Key()
	d := &m.detail
	d.info, d.infoErr, d.fetching, d.noInfo = nil, nil, false, ""
	m.syncDetail()
	switch {
	case r.s.Proto != collect.TCP:
		d.noInfo = "TCP only"
	case m.infoSrc == nil:
		d.noInfo = "not available from this source"
	case r.mark == markGone:
		d.noInfo = "the socket is gone"
	default:
		d.fetching = true
		return tea.Batch(m.infoCmd(m.selKey), m.cgroupCmd())
	}
	return m.cgroupCmd()
}

// refreshInfo asks again for the detail view's tcp_info after a refresh,
// so its figures stay live; one request at a time.
func (m *model) refreshInfo() tea.Cmd {
	d := &m.detail
	if m.mode != modeDetail || d.fetching || d.gone || m.infoSrc == nil || d.sock.Proto != collect.TCP {
		return m.cgroupCmd()
	}
	d.fetching = true
	return tea.Batch(m.infoCmd(m.selKey), m.cgroupCmd())
}

// cgroupMsg is the path of the cgroup with the given id, looked up for
// the detail view; ok is false when it could not be named.
type cgroupMsg struct {
	id   uint64
	path string
	ok   bool
}

// cgroupCmd looks up the path of the detail view's socket's cgroup when
// it is one the view has not named yet: a walk of the cgroup tree the
// first time, so off the event loop.
func (m *model) cgroupCmd() tea.Cmd {
	d := &m.detail
	id := d.sock.CgroupID
	if m.mode != modeDetail || id == 0 || !d.sock.Known(collect.FieldCgroup) || id == d.cgroup.id {
		return nil
	}
	d.cgroup = cgroupMsg{id: id}
	return func() tea.Msg {
		p, ok := collect.CgroupPath(id)
		return cgroupMsg{id: id, path: p, ok: ok}
	}
}

// syncDetail copies the selected socket and its history into the detail
// view, after each refresh, so it stays live.
func (m *model) syncDetail() {
	if len(m.rows) == 0 {
		return
	}
	r := m.rows[m.selected]
	m.detail.sock = *r.s
	m.detail.isListener = false
	if h := m.listen.healthOf(m.snap, r.s); h != nil {
		m.detail.listener, m.detail.isListener = *h, true
	}
	m.detail.peer = collect.Socket{}
	var p *collect.Socket
	p, m.detail.peerStatus = m.peerIndex().Find(r.s)
	if p != nil {
		m.detail.peer = *p
	}
	m.detail.gone = r.mark == markGone
	m.syncPath()
	m.detail.hist = m.hist.byKey[m.selKey]
	m.detail.histFull = len(m.hist.ring) >= maxHistKeys
	if m.snap != nil {
		m.detail.coverage = m.snap.Owners
	}
}

// rowsChanged is called once the rows are filtered and sorted again
// (a refresh, a new filter, a new sort) and their widths measured: what
// depends on all the rows is worked out here, once, rather than per frame.
func (m *model) rowsChanged() {
	m.group.rebuild(m.rows)
	m.log.refilter(m.shows)
	m.closed.refilter(m.shows)
	m.layout()
}

// tableFilter is the filter in force and the text the header shows.
func (m *model) tableFilter() filterChange {
	return filterChange{f: m.filter, text: m.filterText}
}

// applyDemo carries out what the demos asked for: the root model alone
// changes the mode, the filter and the layout.
func (m *model) applyDemo(in demoIntent) tea.Cmd {
	if in.status != "" {
		m.flash = in.status
	}
	if in.leaveList && m.mode == modeDemos {
		m.mode = modeTable
	}
	if in.filter != nil {
		m.filter, m.filterText = in.filter.f, in.filter.text
		m.rebuildRows()
	}
	if in.relayout {
		m.layout()
	}
	if in.capErr != nil && !m.seg.told {
		// The same privilege the detail view's capture lacks: one
		// notice for both.
		m.seg.told = true
		m.extraNotices = append(m.extraNotices, "segments off: "+in.capErr.Error()+segHint(in.capErr))
		m.setNotice()
	}
	return in.cmd
}

// detailScroll scrolls the detail view on the keys that move the table's
// selection, and reports whether msg was one of them.
func (m *model) detailScroll(msg tea.KeyPressMsg) bool {
	k := &m.keys
	d := &m.detail
	page := max(d.height-1, 1)
	switch {
	case key.Matches(msg, k.Up):
		d.offset--
	case key.Matches(msg, k.Down):
		d.offset++
	case key.Matches(msg, k.PageUp):
		d.offset -= page
	case key.Matches(msg, k.PageDown):
		d.offset += page
	case key.Matches(msg, k.Top):
		d.offset = 0
	case key.Matches(msg, k.Bottom):
		d.offset = 1 << 20 // Render clamps it to the last page
	default:
		return false
	}
	d.offset = max(d.offset, 0)
	return true
}
