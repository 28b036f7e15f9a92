package demo

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"socktop/collect"
)

const usageText = `usage:
  socktop demo list
  socktop demo run NAME [--port N] [--reuseaddr=true|false] [--json] [--timeout D] [--fast]

run executes one scenario on 127.0.0.1, prints every socket call as it
happens, then the state changes observed and each promised state, seen or
missed. It exits 0 when every promise was kept, 1 otherwise, 2 on bad usage.
`

// Main runs `socktop demo ...` with args (the words after "demo") and
// returns the exit status: 0 when every promise was kept (or for list),
// 1 when one was missed or the run failed, 2 for bad usage, with the
// usage on stderr.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return 2
	}
	switch args[0] {
	case "list":
		if len(args) > 1 {
			fmt.Fprintf(stderr, "demo list takes no arguments\n%s", usageText)
			return 2
		}
		for _, sc := range Catalogue() {
			fmt.Fprintf(stdout, "%-20s %s  %s\n", sc.Name, sc.Key, sc.Title)
		}
		return 0
	case "run":
		opts, err := parseRun(args[1:])
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usageText)
			return 0
		}
		if err != nil {
			fmt.Fprintf(stderr, "%v\n%s", err, usageText)
			return 2
		}
		ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer cancel()
		return runHeadless(ctx, opts, newCollector(), stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usageText)
		return 0
	}
	fmt.Fprintf(stderr, "unknown demo command %q\n%s", args[0], usageText)
	return 2
}

// runOptions is a parsed `demo run` command line.
type runOptions struct {
	sc      *Scenario
	cfg     Config
	json    bool
	timeout time.Duration
}

// parseRun parses `run NAME [flags]`, with the flags before or after NAME.
func parseRun(args []string) (runOptions, error) {
	var o runOptions
	fs := flag.NewFlagSet("demo run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	port := fs.Uint("port", 0, "server port (0: a free one)")
	reuse := fs.String("reuseaddr", "", "SO_REUSEADDR knob: true or false")
	fs.BoolVar(&o.json, "json", false, "JSON lines")
	fs.DurationVar(&o.timeout, "timeout", time.Minute, "give up after")
	fs.BoolVar(&o.cfg.Fast, "fast", false, "short lifetimes")
	var names []string
	for {
		if err := fs.Parse(args); err != nil {
			return o, fmt.Errorf("%w: %w", ErrUsage, err)
		}
		if fs.NArg() == 0 {
			break
		}
		names = append(names, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(names) != 1 {
		return o, fmt.Errorf("%w: demo run takes exactly one scenario name, got %d", ErrUsage, len(names))
	}
	sc, ok := Find(names[0])
	if !ok {
		return o, fmt.Errorf("%w %q (see socktop demo list)", ErrUnknownScenario, names[0])
	}
	o.sc = sc
	if *port > 65535 {
		return o, fmt.Errorf("%w: --port %d is not a port", ErrUsage, *port)
	}
	o.cfg.Port = uint16(*port)
	o.cfg.ReuseAddr = sc.ReuseAddr
	switch strings.ToLower(*reuse) {
	case "":
	case "true", "1", "yes", "on":
		o.cfg.ReuseAddr = true
	case "false", "0", "no", "off":
		o.cfg.ReuseAddr = false
	default:
		return o, fmt.Errorf("%w: --reuseaddr=%q: want true or false", ErrUsage, *reuse)
	}
	if o.timeout <= 0 {
		return o, fmt.Errorf("%w: --timeout must be positive", ErrUsage)
	}
	return o, nil
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

// runHeadless runs one scenario against src and prints it all.
func runHeadless(ctx context.Context, o runOptions, src snapshotter, stdout, stderr io.Writer) int {
	if c, ok := src.(io.Closer); ok {
		defer c.Close()
	}
	r, err := Start(ctx, o.sc, o.cfg)
	if err != nil {
		fmt.Fprintf(stderr, "demo %s: %v\n", o.sc.Name, err)
		return 1
	}
	pr := &printer{w: stdout, json: o.json, start: r.started}
	cfg := r.Config()
	notes := r.Notes()
	if notes == nil {
		notes = []string{}
	}
	pr.line(fmt.Sprintf("demo %s: %s\nports %v, SO_REUSEADDR knob %v, fast %v", o.sc.Name, o.sc.Title, r.Ports(), cfg.ReuseAddr, cfg.Fast),
		map[string]any{"type": "start", "scenario": o.sc.Name, "ports": r.Ports(), "reuseaddr": cfg.ReuseAddr, "fast": cfg.Fast, "notes": notes, "lesson": o.sc.Lesson})
	// The lesson is what a learner came for: print it before the calls
	// it explains (JSON readers have it in the start object).
	pr.line("\n"+indent(o.sc.Lesson, "  ")+"\n", nil)
	for _, n := range notes {
		pr.line("note: "+n, nil)
	}
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
	werr := watch(ctx, r, src, interval, o.timeout, func(st PromiseStatus) {
		pr.line(fmt.Sprintf("%8s  seen: %s", pr.rel(st.At), st.Promise),
			map[string]any{"type": "seen", "promise": st.Promise.String(), "at": st.At})
	})
	wg.Wait()
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
	status := r.Status()
	ok := werr == nil && r.Err() == nil
	jp := make([]map[string]any, 0, len(status))
	pr.line("promises:", nil)
	for _, st := range status {
		mark, when := "[x]", pr.rel(st.At)
		if !st.Seen {
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
		jp = append(jp, map[string]any{"promise": st.Promise.String(), "role": st.Role, "state": stateName(st.State),
			"seen": st.Seen, "at": at, "why": st.Why, "note": st.Note})
	}
	errText := ""
	for _, e := range []error{werr, r.Err()} {
		if e != nil {
			errText = e.Error()
			fmt.Fprintf(stderr, "demo %s: %v\n", r.sc.Name, e)
		}
	}
	pr.line(fmt.Sprintf("result: %s", map[bool]string{true: "every promise kept", false: "promises missed"}[ok]),
		map[string]any{"type": "result", "scenario": r.sc.Name, "ok": ok, "promises": jp, "transitions": jt, "error": errText})
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
