package ui

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"socktop/filter"
)

// promptView is the `/` filter prompt: a one-line input and, after a bad
// expression, the error with a caret under the column where it broke.
// bubbles/textinput edits the line; the prompt draws it, measuring in
// terminal cells, so the cursor and the caret stay right under wide
// characters.
type promptView struct {
	width  int
	styles *Styles
	input  textinput.Model
	active bool
	err    error
	errCol int // 1-based rune column of err in the input, 0 when unknown
}

// promptPrefix is drawn before the input.
const promptPrefix = "/"

func newPrompt(st *Styles, keys PromptKeyMap) promptView {
	in := textinput.New()
	in.Prompt = ""
	in.KeyMap = keys.textinput()
	// The terminal's own cursor, placed by View; the input is always
	// focused, the prompt decides when it gets keys.
	in.SetVirtualCursor(false)
	in.Focus()
	return promptView{styles: st, input: in}
}

// open shows the prompt with text in it and the cursor at its end.
func (p *promptView) open(text string) {
	p.active, p.err = true, nil
	p.input.SetValue(text)
	p.input.CursorEnd()
}

// update hands a key press or a paste to the line editor; the Cmd reads
// the clipboard for ctrl+v.
func (p *promptView) update(msg tea.Msg) tea.Cmd {
	switch m := msg.(type) {
	case tea.KeyPressMsg:
		if m.Mod&(tea.ModCtrl|tea.ModAlt) != 0 {
			// An unbound ctrl or alt chord types nothing.
			m.Text = ""
		}
		msg = m
	case tea.PasteMsg:
		msg = tea.PasteMsg{Content: oneLine(m.Content)}
	}
	var cmd tea.Cmd
	p.input, cmd = p.input.Update(msg)
	if err := p.input.Err; err != nil {
		// Only a clipboard read sets it: the input has no validator.
		p.input.Err = nil
		p.setError(fmt.Errorf("paste: %w", err))
	}
	return cmd
}

// oneLine is a pasted expression as it goes in: on one line, each run of
// white space one space, so a paste between two words still parts them.
func oneLine(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) {
			space = true
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	if space {
		b.WriteByte(' ')
	}
	return b.String()
}

// SetSize sets the prompt's width; its height is one line, two with an
// error.
func (p *promptView) SetSize(w, _ int) { p.width = w }

// maxErrLines bounds the error under the prompt.
const maxErrLines = 4

// lines is the prompt's height.
func (p *promptView) lines() int { return 1 + len(p.errLines(max(p.width, 1))) }

// setError records a parse error and the column it names.
func (p *promptView) setError(err error) {
	p.err, p.errCol = err, 0
	var fe *filter.Error
	if errors.As(err, &fe) {
		p.errCol = fe.Col
	}
}

// scroll is how many runes of the input are hidden on the left so the
// cursor, and the cell after the text it stands on, stay on screen.
func (p *promptView) scroll(width int) int {
	return scrollFor([]rune(p.input.Value()), p.input.Position(), width-len(promptPrefix)-1)
}

// scrollFor is the first rune shown of v so that the runes from it to the
// cursor at pos fill at most room cells.
func scrollFor(v []rune, pos, room int) int {
	if room <= 0 {
		return pos
	}
	off, w := pos, 0
	for off > 0 {
		rw := ansi.StringWidth(string(v[off-1]))
		if w+rw > room {
			break
		}
		w += rw
		off--
	}
	return off
}

// cursorX is the screen column of the input cursor.
func (p *promptView) cursorX(width int) int {
	v := []rune(p.input.Value())
	off := p.scroll(width)
	return len(promptPrefix) + ansi.StringWidth(string(v[off:p.input.Position()]))
}

// Render draws the input line and the error under it.
func (p *promptView) Render(width int) string {
	v := []rune(p.input.Value())
	text := string(v[p.scroll(width):])
	if len(v) == 0 {
		text = p.styles.Dim.Render("sport = :80, state time-wait, proc nginx ... (enter applies, esc cancels)")
	}
	line := truncLine(promptPrefix+text, width)
	el := p.errLines(width)
	for i := range el {
		el[i] = p.styles.Error.Render(el[i])
	}
	return strings.Join(append([]string{line}, el...), "\n")
}

// errLines lays the error out under the input: a caret under the column
// where the expression broke, the message after it, or before it when the
// caret is near the right edge, or on lines of its own when it is long,
// so the message is never cut to a word or two.
func (p *promptView) errLines(width int) []string {
	if p.err == nil {
		return nil
	}
	msg := p.err.Error()
	var fe *filter.Error
	if errors.As(p.err, &fe) {
		msg = fe.Msg
	}
	v := []rune(p.input.Value())
	off := p.scroll(width)
	col := -1 // the caret's screen column
	if p.errCol > 0 && p.errCol-1 >= off {
		col = len(promptPrefix) + ansi.StringWidth(string(v[off:min(p.errCol-1, len(v))]))
		if p.errCol-1 > len(v) {
			col += p.errCol - 1 - len(v)
		}
		if col >= width {
			col = -1
		}
	}
	mw := ansi.StringWidth(msg)
	var out []string
	switch {
	case col < 0:
		out = strings.Split(wrapText(msg, width), "\n")
	case col+2+mw <= width:
		out = []string{strings.Repeat(" ", col) + "^ " + msg}
	case mw+2 <= col:
		out = []string{strings.Repeat(" ", col-mw-1) + msg + " ^"}
	case col+2+20 <= width:
		// A long message starts after the caret and goes on below.
		first := strings.SplitN(wrapText(msg, width-col-2), "\n", 2)
		out = []string{strings.Repeat(" ", col) + "^ " + first[0]}
		if len(first) > 1 {
			out = append(out, strings.Split(wrapText(strings.ReplaceAll(first[1], "\n", " "), width), "\n")...)
		}
	default:
		out = append([]string{strings.Repeat(" ", col) + "^"}, strings.Split(wrapText(msg, width), "\n")...)
	}
	if len(out) > maxErrLines {
		out = out[:maxErrLines]
		out[maxErrLines-1] = truncLine(out[maxErrLines-1], max(width-1, 0)) + "…"
	}
	for i := range out {
		out[i] = truncLine(strings.TrimRight(out[i], " "), width)
	}
	return out
}
