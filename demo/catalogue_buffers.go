package demo

import (
	"fmt"
	"time"

	"socktop/collect"
	"socktop/probe"
)

// bufferKnob says which knob the table's buffer size sets, for the notes
// and the lesson.
const bufferKnob = "the buffer size is the size of the buffer passed to every write() and read(), as in the material; " +
	"SO_SNDBUF and SO_RCVBUF are left to the kernel's autotuning (net.ipv4.tcp_wmem, tcp_rmem)"

// materialNote says where the material's figures stand.
const materialNote = "the material's figures for this table were not found: its columns show ? rather than a number nobody measured"

// firstRunLimit bounds how long the first run of a connection keeps
// writing until snapshots have seen it.
const firstRunLimit = 20 * time.Second

// fastFirstRunLimit is firstRunLimit in Fast runs, whose snapshots come
// every 50 ms when the host lets them.
const fastFirstRunLimit = 10 * time.Second

func bufferSizes() *Scenario {
	return &Scenario{
		Name:    "buffer-sizes",
		Key:     "o",
		Section: SectionMeasure,
		NoSegments: "a bulk transfer sends tens of thousands of segments, more than a diagram can show, " +
			"and capturing them would slow what the table measures",
		Title: "Buffer sizes: TCP throughput by write size, loopback and 10 Mbit/s (lan rows: root)",
		Promises: []Promise{
			{Role: Client, State: established, Detail: "Send-Q > 0, during a transfer", Match: sendQPositive,
				Why: "the writer is ahead of the path: its bytes wait in the send buffer until the peer acknowledges them"},
			path(Client, "the measuring connection is an ordinary one, and the client closes first",
				synSent, established, finWait1, finWait2, timeWait),
			path(Server, "the server reads the end of the stream, then closes", synRecv, established, closeWait, lastAck, closed),
			{Endpoint: "measure", Call: "table buffer-sizes", Result: "TCP throughput",
				Why: "every size measured, in every setting this host allows"},
		},
		notes: func(h Host, cfg Config) []string {
			g := gridFor(cfg.Fast)
			out := []string{bufferKnob,
				fmt.Sprintf("%d sizes; loopback %d runs of %v, pipe %d of %v, memcpy %d of %v each", len(g.sizes),
					g.runs[settingLoopback], g.dur[settingLoopback], g.runs[settingPipe], g.dur[settingPipe],
					g.runs[settingMemcpy], g.dur[settingMemcpy]),
			}
			if why := lanUnavailable(); why != "" {
				out = append(out, why)
			} else {
				out = append(out, fmt.Sprintf("lan: %d runs of 256 KiB (or two buffers) each, across a veth pair rate-limited to 10 Mbit/s", g.runs[settingLAN]))
			}
			return append(out, materialNote)
		},
		steps: func(e *env) { e.bufferSizes() },
	}
}

// sendQPositive accepts a socket with bytes in its send queue.
func sendQPositive(s *collect.Socket) bool { return s.SendQ > 0 }

// stopped reports whether the run has been stopped.
func (e *env) stopped() bool {
	select {
	case <-e.ctx.Done():
		return true
	case <-e.p.Stopping():
		return true
	default:
		return false
	}
}

// untilSeen returns a transfer's more: keep going until two snapshots
// taken after start have been observed and one of them showed the
// sender's queue, so that the live table and the promises see the
// connection mid-transfer however slow the snapshots (a loaded host, a
// run without root whose snapshots are dearer).
func (e *env) untilSeen(start time.Time) func() bool {
	return func() bool {
		n, _ := e.run.observedSince(start)
		limit := firstRunLimit
		if e.cfg.Fast {
			limit = fastFirstRunLimit
		}
		done := n >= 2 && e.run.keptWhere(func(p Promise) bool { return p.Match != nil && p.State == established })
		return !done && time.Since(start) < limit
	}
}

// bufferSizes runs the grid in every setting and records the table.
func (e *env) bufferSizes() {
	g := gridFor(e.cfg.Fast)
	var rows []bufferRow
	missing := map[string]string{}
	notes := []string{bufferKnob}

	ln := e.listener("server", true, 1, nil)
	c := e.client("client", nil)
	a := e.accept(ln, "server")
	rows = append(rows, e.measureConn(settingLoopback, c, a, g)...)
	e.closePolitely(ln, c, a)

	if why := lanUnavailable(); why != "" {
		missing[settingLAN] = "skipped"
		notes = append(notes, why)
		e.say("measure", "lan", why)
	} else {
		rows = append(rows, e.measureLAN(g)...)
	}

	for _, size := range g.sizes {
		runs := make([]float64, 0, g.runs[settingPipe])
		for range g.runs[settingPipe] {
			n, d, err := pipeRun(transfer{size: size, dur: g.dur[settingPipe], stopped: e.stopped})
			e.ok(err)
			runs = append(runs, mbps(n, d))
		}
		rows = append(rows, e.summarize(settingPipe, "pipe", size, g.dur[settingPipe].String(), runs))
	}
	for _, size := range g.sizes {
		runs := make([]float64, 0, g.runs[settingMemcpy])
		for range g.runs[settingMemcpy] {
			if e.stopped() {
				e.ok(probe.ErrStopped)
			}
			n, d := memcpyRun(size, g.dur[settingMemcpy])
			runs = append(runs, mbps(n, d))
		}
		rows = append(rows, e.summarize(settingMemcpy, "memcpy", size, g.dur[settingMemcpy].String(), runs))
	}
	notes = append(notes,
		"same computer: both ends on 127.0.0.1; 10 Mbps LAN: the client on the host, the server in a network namespace behind a veth pair whose host side tc tbf limits to 10 Mbit/s",
		"pipe: the same writes and reads through pipe(2); memcpy: copy() of the buffer, no kernel at all",
		"Mbit/s are 10^6 bits a second of payload, from the first write to the read of the last byte; "+
			"a loopback, pipe or memcpy run writes for a fixed time, a lan run 256 KiB (or two buffers, when larger)",
		materialNote)
	e.table(bufferTable(g.sizes, rows, missing, notes))
}

// summarize makes a row and narrates it.
func (e *env) summarize(setting, who string, size int, each string, runs []float64) bufferRow {
	row, err := summarize(setting, size, runs)
	e.ok(err)
	what := fmt.Sprintf("%s buffers, %d runs of %s", sizeLabel(size), len(runs), each)
	if who != setting {
		what = setting + ": " + what
	}
	e.say(who, what, rateCell(row)+" Mbit/s")
	return row
}

// measureConn runs the grid over one connection, c writing and a
// reading; the first run keeps writing until snapshots have seen it.
func (e *env) measureConn(setting string, c, a *probe.Endpoint, g bufferGrid) []bufferRow {
	wfd, err := dupFD(c)
	e.ok(err)
	defer closeFD(wfd)
	rfd, err := dupFD(a)
	e.ok(err)
	defer closeFD(rfd)
	var rows []bufferRow
	first := true
	for _, size := range g.sizes {
		runs := make([]float64, 0, g.runs[setting])
		for range g.runs[setting] {
			t := transfer{size: size, dur: g.dur[setting], stopped: e.stopped}
			if setting == settingLAN {
				t.bytes = lanBytes(size)
			}
			if first {
				t.more = e.untilSeen(time.Now())
				first = false
			}
			n, d, err := timedTransfer(wfd, rfd, t)
			e.ok(err)
			runs = append(runs, mbps(n, d))
		}
		each := g.dur[setting].String()
		if setting == settingLAN {
			each = sizeLabel(int(lanBytes(size)))
		}
		rows = append(rows, e.summarize(setting, "client", size, each, runs))
	}
	return rows
}

// closePolitely ends a measuring connection the ordinary way: the client
// closes, the server reads the end of the stream and closes, and the
// listener goes.
func (e *env) closePolitely(ln, c, a *probe.Endpoint) {
	e.ok(c.Close())
	n, err := a.Recv(1, waitLimit)
	e.ok(err)
	if n != 0 {
		e.ok(fmt.Errorf("%d bytes after the last run", n))
	}
	e.ok(a.Close())
	e.ok(ln.Close())
}
