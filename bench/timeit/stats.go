package main

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

var errUsage = errors.New("timeit: usage")

// run is one execution of a command.
type run struct {
	Wall   time.Duration
	CPU    time.Duration // user + system time of the process and its children
	MaxRSS int64         // peak resident set, KiB (ru_maxrss)
	Err    error         // non-nil when the command failed; its figures are not used
}

// command is one entry of the comparison and its runs, one per round.
type command struct {
	Name string
	Argv []string
	Runs []run
}

// summary holds the figures of one command over its successful runs.
type summary struct {
	Name      string    `json:"name"`
	Command   string    `json:"command"`
	Runs      int       `json:"runs"`
	Failures  int       `json:"failures"`
	MedianMS  float64   `json:"median_ms"`
	P90MS     float64   `json:"p90_ms"`
	MinMS     float64   `json:"min_ms"`
	CPUMS     float64   `json:"cpu_median_ms"`
	RSSMedKiB float64   `json:"rss_median_kib"`
	RSSMaxKiB int64     `json:"rss_max_kib"`
	VsBase    float64   `json:"ratio_vs_baseline,omitempty"`
	WallMS    []float64 `json:"wall_ms"`
	RSSKiB    []int64   `json:"rss_kib"`
	FirstErr  string    `json:"first_error,omitempty"`
}

// ratio compares two commands measured in the same rounds.
type ratio struct {
	Num string `json:"num"`
	Den string `json:"den"`
	// OfMedians is median(num) / median(den).
	OfMedians float64 `json:"of_medians"`
	// Paired is the median over rounds of num/den in that round, which
	// cancels noise that hits both commands of a round alike.
	Paired float64 `json:"paired_median"`
	// Target, when set, is the most OfMedians may be; Met says whether it
	// was.
	Target float64 `json:"target,omitempty"`
	Met    *bool   `json:"met,omitempty"`
}

// parseRatio reads NUM/DEN or NUM/DEN<=TARGET.
func parseRatio(s string) (num, den string, target float64, err error) {
	spec, t, hasTarget := strings.Cut(s, "<=")
	num, den, ok := strings.Cut(spec, "/")
	if !ok || num == "" || den == "" {
		return "", "", 0, fmt.Errorf("%w: -ratio %q: want NUM/DEN or NUM/DEN<=TARGET", errUsage, s)
	}
	if hasTarget {
		if _, err := fmt.Sscanf(t, "%g", &target); err != nil || target <= 0 {
			return "", "", 0, fmt.Errorf("%w: -ratio %q: target %q is not a positive number", errUsage, s, t)
		}
	}
	return num, den, target, nil
}

// quantile returns the q-quantile (0..1) of xs by linear interpolation
// between the closest ranks; NaN for an empty slice.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return s[lo] + (s[hi]-s[lo])*(pos-float64(lo))
}

func median(xs []float64) float64 { return quantile(xs, 0.5) }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func summarize(c command) summary {
	s := summary{Name: c.Name, Command: strings.Join(c.Argv, " "), Runs: len(c.Runs),
		WallMS: []float64{}, RSSKiB: []int64{}}
	var cpu, rss []float64
	for _, r := range c.Runs {
		if r.Err != nil {
			s.Failures++
			if s.FirstErr == "" {
				s.FirstErr = r.Err.Error()
			}
			continue
		}
		s.WallMS = append(s.WallMS, ms(r.Wall))
		s.RSSKiB = append(s.RSSKiB, r.MaxRSS)
		cpu = append(cpu, ms(r.CPU))
		rss = append(rss, float64(r.MaxRSS))
		s.RSSMaxKiB = max(s.RSSMaxKiB, r.MaxRSS)
	}
	s.MedianMS = median(s.WallMS)
	s.P90MS = quantile(s.WallMS, 0.9)
	s.MinMS = quantile(s.WallMS, 0)
	s.CPUMS = median(cpu)
	s.RSSMedKiB = median(rss)
	return s
}

// pairedRatio returns the ratio of medians and the median of the per-round
// ratios of num to den; rounds where either failed are left out.
func pairedRatio(num, den command) ratio {
	r := ratio{Num: num.Name, Den: den.Name}
	var a, b, per []float64
	for i := range min(len(num.Runs), len(den.Runs)) {
		x, y := num.Runs[i], den.Runs[i]
		if x.Err != nil || y.Err != nil {
			continue
		}
		a = append(a, ms(x.Wall))
		b = append(b, ms(y.Wall))
		per = append(per, ms(x.Wall)/ms(y.Wall))
	}
	r.OfMedians = median(a) / median(b)
	r.Paired = median(per)
	return r
}

// parseSpec reads NAME=COMMAND. COMMAND is split into words like a shell
// does (single and double quotes, backslash), unless shell is set, in which
// case it runs under /bin/sh -c.
func parseSpec(spec string, shell bool) (name string, argv []string, err error) {
	name, cmd, ok := strings.Cut(spec, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.ContainsAny(name, " \t") {
		return "", nil, fmt.Errorf("%w: %q is not NAME=COMMAND", errUsage, spec)
	}
	if shell {
		if strings.TrimSpace(cmd) == "" {
			return "", nil, fmt.Errorf("%w: %q has an empty command", errUsage, spec)
		}
		return name, []string{"/bin/sh", "-c", cmd}, nil
	}
	argv, err = splitWords(cmd)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %s: %w", errUsage, name, err)
	}
	if len(argv) == 0 {
		return "", nil, fmt.Errorf("%w: %q has an empty command", errUsage, spec)
	}
	return name, argv, nil
}

func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	esc := false
	for _, r := range s {
		switch {
		case esc:
			cur.WriteRune(r)
			esc = false
		case r == '\\' && quote != '\'':
			esc, inWord = true, true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 || esc {
		return nil, errors.New("unterminated quote or escape")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
