package demo

import (
	"fmt"
	"strings"

	"socktop/collect"
	"socktop/collect/segments"
)

// maxDiagrams bounds the sequence diagrams the text report draws: a run
// with many connections (the overflow demo) draws the first few.
const maxDiagrams = 4

// printPaths prints each side's path and returns them as the JSON
// report's "paths": per role, the steps with their state, their time in
// microseconds since the run started (null when unknown) and how they
// were learnt.
func printPaths(pr *printer, r *Run) map[string]any {
	out := map[string]any{}
	pr.line("paths, checked "+r.Checked()+":", nil)
	for _, role := range []Role{Client, Server} {
		steps := r.Path(role)
		js := make([]map[string]any, 0, len(steps))
		parts := make([]string, 0, len(steps))
		for _, st := range steps {
			var tus any
			text := stateName(st.State)
			if !st.At.IsZero() {
				us := st.At.Sub(pr.start).Microseconds()
				tus = us
				text += fmt.Sprintf(" (+%.3fms", float64(us)/1000)
				if st.Source != collect.Kernel {
					text += ", " + st.Source.String()
				}
				text += ")"
			}
			parts = append(parts, text)
			js = append(js, map[string]any{"state": stateName(st.State), "t_us": tus, "source": st.Source.String()})
		}
		if len(parts) == 0 {
			parts = append(parts, "(none seen)")
		}
		pr.line(fmt.Sprintf("  %-6s %s", role, strings.Join(parts, " -> ")), nil)
		out[string(role)] = js
	}
	if n := r.Lost(); n > 0 {
		pr.line(fmt.Sprintf("  the kernel lost %d event(s) meanwhile (host-wide): a path may miss steps", n), nil)
	}
	return out
}

// printSegments draws the sequence diagram of the run's connections and
// returns the segments as the JSON report's "segments": time since the
// run started, the sending side, flags, seq and ack relative to each
// side's initial sequence number, payload length and window.
func printSegments(pr *printer, r *Run) []map[string]any {
	segs := r.Segments()
	rows := make([]map[string]any, len(segs))
	if err := r.CaptureErr(); err != nil {
		pr.line("segments: not captured ("+err.Error()+")", nil)
		return rows
	}
	groups := r.connSegs(segs)
	pr.line(fmt.Sprintf("segments: %d on %d connection(s)", len(segs), len(groups)), nil)
	for n, g := range groups {
		seq, ack := relativeSeq(r, segs, g)
		for j, i := range g {
			s := &segs[i]
			rows[i] = map[string]any{"t_us": s.Time.Sub(pr.start).Microseconds(), "from": string(r.segRole(s)),
				"flags": s.Flags.String(), "seq": seq[j], "ack": ack[j], "len": s.Len, "win": s.Win}
		}
		if n >= maxDiagrams {
			continue
		}
		one := make([]segments.Segment, len(g))
		for j, i := range g {
			one[j] = segs[i]
		}
		client, server := one[0].Src, one[0].Dst
		if r.segRole(&one[0]) == Server {
			client, server = server, client
		}
		lines := segments.Diagram(one, r.sides(client, server), 76)
		if len(lines) == 0 {
			// A diagram that cannot be drawn still leaves the segments.
			lines = append(lines, fmt.Sprintf("%s > %s", client, server))
			for j, s := range one {
				lines = append(lines, fmt.Sprintf("%8s  %-6s %-12s seq %d ack %v len %d win %d",
					pr.rel(s.Time), r.segRole(&s), s.Flags, seq[j], ack[j], s.Len, s.Win))
			}
		}
		for _, l := range lines {
			pr.line("  "+l, nil)
		}
	}
	if len(groups) > maxDiagrams {
		pr.line(fmt.Sprintf("  (%d more connection(s) in the JSON report)", len(groups)-maxDiagrams), nil)
	}
	return rows
}

// relativeSeq returns the seq and ack of one connection's segments (idx
// into segs) relative to each side's initial sequence number: the
// sequence number of its SYN, or else of the first segment it sent. An
// ack is nil when the segment has no ACK flag or the peer sent nothing.
func relativeSeq(r *Run, segs []segments.Segment, idx []int) (seq []uint32, ack []any) {
	isn := map[Role]uint32{}
	for _, syn := range []bool{true, false} {
		for _, i := range idx {
			s := &segs[i]
			from := r.segRole(s)
			if _, ok := isn[from]; !ok && (s.Flags&segments.SYN != 0) == syn {
				isn[from] = s.Seq
			}
		}
	}
	seq = make([]uint32, len(idx))
	ack = make([]any, len(idx))
	for j, i := range idx {
		s := &segs[i]
		from := r.segRole(s)
		seq[j] = s.Seq - isn[from]
		peer := Client
		if from == Client {
			peer = Server
		}
		if base, ok := isn[peer]; ok && s.Flags&segments.ACK != 0 {
			ack[j] = s.Ack - base
		}
	}
	return seq, ack
}
