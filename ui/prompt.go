package ui

import (
	"errors"
	"strings"
	"unicode"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"socktop/filter"
)

// lineInput is a one-line text editor for the filter prompt. It stands in
// for bubbles/textinput, which needs github.com/atotto/clipboard, a module
// this repository does not carry.
type lineInput struct {
	value []rune
	pos   int
}

func (in *lineInput) SetValue(s string) { in.value, in.pos = []rune(s), len([]rune(s)) }

func (in *lineInput) Value() string { return string(in.value) }

// Update applies one key press: text is inserted at the cursor; the usual
// readline keys move and delete.
func (in *lineInput) Update(msg tea.KeyPressMsg) {
	switch msg.String() {
	case "left", "ctrl+b":
		in.pos = max(in.pos-1, 0)
	case "right", "ctrl+f":
		in.pos = min(in.pos+1, len(in.value))
	case "home", "ctrl+a":
		in.pos = 0
	case "end", "ctrl+e":
		in.pos = len(in.value)
	case "backspace", "ctrl+h":
		if in.pos > 0 {
			in.value = append(in.value[:in.pos-1], in.value[in.pos:]...)
			in.pos--
		}
	case "delete", "ctrl+d":
		if in.pos < len(in.value) {
			in.value = append(in.value[:in.pos], in.value[in.pos+1:]...)
		}
	case "ctrl+u":
		in.value, in.pos = append([]rune(nil), in.value[in.pos:]...), 0
	case "ctrl+k":
		in.value = in.value[:in.pos]
	case "ctrl+w":
		i := in.pos
		for i > 0 && in.value[i-1] == ' ' {
			i--
		}
		for i > 0 && in.value[i-1] != ' ' {
			i--
		}
		in.value = append(in.value[:i], in.value[in.pos:]...)
		in.pos = i
	default:
		if msg.Text == "" || msg.Mod&(tea.ModCtrl|tea.ModAlt) != 0 {
			return
		}
		var ins []rune
		for _, r := range msg.Text {
			if unicode.IsPrint(r) {
				ins = append(ins, r)
			}
		}
		v := make([]rune, 0, len(in.value)+len(ins))
		v = append(v, in.value[:in.pos]...)
		v = append(v, ins...)
		v = append(v, in.value[in.pos:]...)
		in.value = v
		in.pos += len(ins)
	}
}

// promptView is the `/` filter prompt: a one-line input and, after a bad
// expression, the error with a caret under the column where it broke.
type promptView struct {
	width  int
	styles *Styles
	input  lineInput
	active bool
	err    error
	errCol int // 1-based rune column of err in the input, 0 when unknown
}

// promptPrefix is drawn before the input.
const promptPrefix = "/"

func newPrompt(st *Styles) promptView { return promptView{styles: st} }

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
// cursor stays on screen.
func (p *promptView) scroll(width int) int {
	room := width - len(promptPrefix) - 1
	if room <= 0 {
		return p.input.pos
	}
	return max(p.input.pos-room, 0)
}

// cursorX is the screen column of the input cursor.
func (p *promptView) cursorX(width int) int {
	v := p.input.value
	off := p.scroll(width)
	return len(promptPrefix) + ansi.StringWidth(string(v[off:p.input.pos]))
}

// Render draws the input line and the error under it.
func (p *promptView) Render(width int) string {
	off := p.scroll(width)
	text := string(p.input.value[off:])
	if len(p.input.value) == 0 {
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
	off := p.scroll(width)
	col := -1 // the caret's screen column
	if p.errCol > 0 && p.errCol-1 >= off {
		col = len(promptPrefix) + ansi.StringWidth(string(p.input.value[off:min(p.errCol-1, len(p.input.value))]))
		if p.errCol-1 > len(p.input.value) {
			col += p.errCol - 1 - len(p.input.value)
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
