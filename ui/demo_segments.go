package ui

import (
	"net/netip"
	"strconv"

	"socktop/collect/segments"
)

// segmentLines is the demo pane's segments section of a run, for width
// cells: a heading, then the time-sequence diagram of the run's first
// connection with each side's path beside its column, or why there is
// none. It is drawn again only when the segments, the paths or the width
// changed.
func (p *demoPaneView) segmentLines(r *demoRun, width int) []string {
	if !r.segsDirty && r.segWidth == width && r.segLines != nil {
		return r.segLines
	}
	r.segsDirty, r.segWidth = false, width
	st := p.styles
	var lines []string
	head := func(s string) { lines = append(lines, wrapStyled(st.Title, "  "+s, width, 4)...) }
	switch {
	case r.capErr != nil:
		head("segments: not captured")
		lines = append(lines, wrapStyled(st.Dim, "  "+r.capErr.Error()+segHint(r.capErr), width, 4)...)
	case len(r.segs) == 0:
		head("segments: none captured yet")
	default:
		sides, others, otherSegs := demoSides(r)
		n := len(r.segs) - otherSegs
		head("segments: " + strconv.Itoa(n) + " of the first connection, relative seq/ack")
		for _, l := range segments.Diagram(r.segs, sides, max(width-2, 1)) {
			lines = append(lines, "  "+l)
		}
		if others > 0 {
			lines = append(lines, wrapStyled(st.Dim, "  and "+strconv.Itoa(otherSegs)+" segment(s) of "+strconv.Itoa(others)+
				" other connection(s): socktop demo run "+r.sc.Name+" draws them", width, 4)...)
		}
	}
	for i := range lines {
		lines[i] = truncLine(lines[i], width)
	}
	r.segLines = lines
	return lines
}

// demoSides names the run's first connection for the diagram: the first
// one a segment shows on the server port (every segment a run keeps has
// it at one end), which is also the one whose paths Run.Path follows, the
// first client connection to that port. It counts the other connections
// and their segments.
func demoSides(r *demoRun) (sides segments.Sides, others, otherSegs int) {
	if len(r.ports) == 0 {
		return segments.Sides{}, 0, 0
	}
	port := r.ports[0]
	var client, server netip.AddrPort
	for i := range r.segs {
		if s := &r.segs[i]; s.Dst.Port() == port {
			client, server = s.Src, s.Dst
			break
		} else if s.Src.Port() == port {
			client, server = s.Dst, s.Src
			break
		}
	}
	if !client.IsValid() {
		return segments.Sides{}, 0, 0
	}
	sides = segments.Sides{Client: client, Server: server, ClientPath: r.paths[0], ServerPath: r.paths[1]}
	seen := map[netip.AddrPort]bool{}
	for i := range r.segs {
		s := &r.segs[i]
		if s.Src == client && s.Dst == server || s.Src == server && s.Dst == client {
			continue
		}
		// Keyed by the end that is not the server port's.
		k := s.Src
		if k.Port() == port {
			k = s.Dst
		}
		seen[k] = true
		otherSegs++
	}
	return sides, len(seen), otherSegs
}
