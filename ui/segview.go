package ui

import (
	"errors"
	"strings"

	tea "charm.land/bubbletea/v2"

	"socktop/collect"
	"socktop/collect/segments"
)

// maxSegs bounds the segments the detail view keeps of one capture.
const maxSegs = 2000

// segmentCapture is what the view needs of a capture; *segments.Capture
// is one.
type segmentCapture interface {
	Drain(dst []segments.Segment) []segments.Segment
	Close() error
}

// startCapture opens a capture; segments.Start, replaced in tests.
var startCapture = func(opts segments.Options) (segmentCapture, error) {
	c, err := segments.Start(opts)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// segState is the detail view's capture of the selected connection's
// segments. gen tells a capture's messages from those of one stopped
// since.
type segState struct {
	capture  segmentCapture
	gen      uint64
	key      collect.Key
	starting bool
	segs     []segments.Segment
	err      error
	told     bool // the capture's error is in the notices
}

// segStartMsg is a capture that Start opened, or why it could not.
type segStartMsg struct {
	gen     uint64
	capture segmentCapture
	err     error
}

// on reports whether a capture runs or is being started.
func (s *segState) on() bool { return s.capture != nil || s.starting }

// add keeps the segments a collection drained from capture gen.
func (s *segState) add(gen uint64, segs []segments.Segment) {
	if gen != s.gen || s.capture == nil || len(segs) == 0 {
		return
	}
	s.segs = append(s.segs, segs...)
	if len(s.segs) > maxSegs {
		s.segs = append(s.segs[:0], s.segs[len(s.segs)-maxSegs:]...)
	}
}

// toggleSegments starts capturing the detail view's connection, or stops
// the capture that runs.
func (m *model) toggleSegments() tea.Cmd {
	if m.seg.on() {
		return m.stopSegments()
	}
	s := &m.detail.sock
	if s.Proto != collect.TCP {
		m.flash = "segments: TCP only"
		return nil
	}
	var ports []uint16
	for _, p := range []uint16{s.Local.Port(), s.Remote.Port()} {
		if p != 0 {
			ports = append(ports, p)
		}
	}
	m.seg.gen++
	m.seg.key, m.seg.starting, m.seg.segs, m.seg.err = m.selKey, true, nil, nil
	gen := m.seg.gen
	return func() tea.Msg {
		c, err := startCapture(segments.Options{Ports: ports})
		return segStartMsg{gen: gen, capture: c, err: err}
	}
}

// stopSegments ends the capture, if one runs, in a Cmd: closing its
// socket is I/O. A capture still starting is closed when it arrives.
func (m *model) stopSegments() tea.Cmd {
	c := m.seg.capture
	m.seg.gen++
	m.seg.capture, m.seg.starting, m.seg.segs, m.seg.err = nil, false, nil, nil
	if c == nil {
		return nil
	}
	return closeCmd(c)
}

func closeCmd(c segmentCapture) tea.Cmd {
	return func() tea.Msg {
		c.Close()
		return nil
	}
}

// segStarted takes a capture Start opened: the view's, unless it was
// stopped meanwhile. An error is shown in the detail view, and once in
// the notices, since it holds for every connection (no CAP_NET_RAW).
func (m *model) segStarted(msg segStartMsg) tea.Cmd {
	if msg.gen != m.seg.gen || m.mode != modeDetail {
		if msg.capture != nil {
			return closeCmd(msg.capture)
		}
		return nil
	}
	m.seg.starting = false
	if msg.err != nil {
		m.seg.err = msg.err
		if !m.seg.told {
			m.seg.told = true
			m.extraNotices = append(m.extraNotices, "segments off: "+msg.err.Error()+segHint(msg.err))
			m.setNotice()
		}
		return nil
	}
	m.seg.capture = msg.capture
	return nil
}

// segHint names the remedy when the capture lacks privilege.
func segHint(err error) string {
	if errors.Is(err, segments.ErrUnavailable) {
		return " (run as root, or setcap cap_net_raw+ep socktop)"
	}
	return ""
}

// closeSegments closes the capture when the program ends.
func (m *model) closeSegments() {
	if c := m.seg.capture; c != nil {
		m.seg.capture = nil
		c.Close()
	}
}

// segSides names the connection's ends for the diagram: the client is
// the end that sent the first SYN without ACK, else the end whose path
// has SYN_SENT; the local end otherwise.
func segSides(s *collect.Socket, segs []segments.Segment, path, peer []collect.Step) segments.Sides {
	local := segments.Sides{Client: s.Local, Server: s.Remote, ClientPath: path, ServerPath: peer}
	remote := segments.Sides{Client: s.Remote, Server: s.Local, ClientPath: peer, ServerPath: path}
	for _, g := range segs {
		if g.Flags&(segments.SYN|segments.ACK) == segments.SYN {
			if g.Src == s.Remote {
				return remote
			}
			return local
		}
	}
	for _, st := range peer {
		if st.State == collect.StateSynSent {
			return remote
		}
	}
	return local
}

// setNotice shows the snapshot's last notices and the others, once each,
// on the header's notice line.
func (m *model) setNotice() {
	m.header.notice = strings.Join(m.notices(), "; ")
}

// notices are the snapshot's last notices and the others, in the order
// the header shows them.
func (m *model) notices() []string {
	return append(append([]string(nil), m.snapNotices...), m.extraNotices...)
}

// syncPath asks the tracker for the detail view's connection's path, and
// its peer's when the peer is on this host too (loopback).
func (m *model) syncPath() {
	k := m.selKey
	m.detail.path = m.tracker.Path(k)
	m.detail.peerPath = m.tracker.Path(collect.Key{Proto: k.Proto, Local: k.Remote, Remote: k.Local})
	if m.snap != nil {
		m.detail.now = m.snap.Taken
	}
	m.detail.seg = &m.seg
}
