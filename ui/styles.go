package ui

import (
	"image/color"

	"charm.land/lipgloss/v2"

	"socktop/collect"
)

// Styles holds every style the view uses, so one state has one colour in the
// header counts, the table, the transition log and the detail view.
type Styles struct {
	// State is the style of each state's name, indexed by collect.State.
	State [collect.NumStates]lipgloss.Style

	New, Changed, Gone lipgloss.Style // whole-row marks, TCPView's colours
	Selected           lipgloss.Style
	Header             lipgloss.Style // the column header row
	Title              lipgloss.Style // pane titles and the first header line
	Dim                lipgloss.Style
	Error              lipgloss.Style
	Paused             lipgloss.Style
	Seen, Waiting      lipgloss.Style // demo promises
	// The state diagram's lit paths: DiagPath for the arcs, labels and
	// boxes of each path, DiagBoth for what both took, DiagCurrent for
	// the state each path is in now.
	DiagPath, DiagCurrent [2]lipgloss.Style
	DiagBoth              lipgloss.Style
	// Full is a listener whose accept queue is full: its row, the
	// header's listen line and the detail view's accept queue.
	Full lipgloss.Style
	// Color is false under NO_COLOR: then no style carries colour or
	// attributes and marks show only through the marker column.
	Color bool
}

// DefaultStyles returns the colour styles, or plain ones when noColor is
// true (the NO_COLOR convention: no colour at all).
func DefaultStyles(noColor bool) Styles {
	var s Styles
	if noColor {
		for i := range s.State {
			s.State[i] = lipgloss.NewStyle()
		}
		plain := lipgloss.NewStyle()
		s.New, s.Changed, s.Gone, s.Selected = plain, plain, plain, plain
		s.Header, s.Title, s.Dim, s.Error, s.Paused = plain, plain, plain, plain, plain
		s.Seen, s.Waiting = plain, plain
		s.DiagPath, s.DiagCurrent = [2]lipgloss.Style{plain, plain}, [2]lipgloss.Style{plain, plain}
		s.DiagBoth = plain
		s.Full = plain
		return s
	}
	s.Color = true
	fg := func(c color.Color) lipgloss.Style { return lipgloss.NewStyle().Foreground(c) }
	stateColor := map[collect.State]color.Color{
		collect.StateUnknown:       lipgloss.BrightBlack,
		collect.StateEstablished:   lipgloss.Green,
		collect.StateSynSent:       lipgloss.BrightYellow,
		collect.StateSynRecv:       lipgloss.Yellow,
		collect.StateFinWait1:      lipgloss.BrightMagenta,
		collect.StateFinWait2:      lipgloss.Magenta,
		collect.StateTimeWait:      lipgloss.Blue,
		collect.StateClosed:        lipgloss.BrightBlack,
		collect.StateCloseWait:     lipgloss.BrightRed,
		collect.StateLastAck:       lipgloss.Red,
		collect.StateListen:        lipgloss.Cyan,
		collect.StateClosing:       lipgloss.BrightBlue,
		collect.StateNewSynRecv:    lipgloss.Yellow,
		collect.StateBoundInactive: lipgloss.BrightBlack,
		collect.StateUnconn:        lipgloss.BrightCyan,
	}
	for st, c := range stateColor {
		s.State[st] = fg(c)
	}
	s.New = fg(lipgloss.Green).Bold(true)
	s.Changed = fg(lipgloss.Yellow).Bold(true)
	s.Gone = fg(lipgloss.Red)
	s.Selected = lipgloss.NewStyle().Reverse(true)
	s.Header = lipgloss.NewStyle().Bold(true).Underline(true)
	s.Title = lipgloss.NewStyle().Bold(true)
	s.Dim = fg(lipgloss.BrightBlack)
	s.Error = fg(lipgloss.Red).Bold(true)
	s.Paused = lipgloss.NewStyle().Reverse(true).Bold(true)
	s.Seen = fg(lipgloss.Green)
	s.Waiting = fg(lipgloss.BrightBlack)
	s.DiagPath = [2]lipgloss.Style{fg(lipgloss.BrightCyan).Bold(true), fg(lipgloss.BrightMagenta).Bold(true)}
	s.DiagCurrent = [2]lipgloss.Style{s.DiagPath[0].Reverse(true), s.DiagPath[1].Reverse(true)}
	s.DiagBoth = fg(lipgloss.BrightYellow).Bold(true)
	s.Full = fg(lipgloss.BrightWhite).Background(lipgloss.Red).Bold(true)
	return s
}

// state renders a state name in its colour; aliases share their canonical
// state's colour.
func (s *Styles) state(st collect.State, text string) string {
	if !s.Color {
		return text
	}
	return s.State[st.Canonical()].Render(text)
}
