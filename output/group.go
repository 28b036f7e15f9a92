package output

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"strings"

	"socktop/collect"
	"socktop/group"
)

// GroupStates are the states the group table gives a column of its own
// when any group has sockets in them, in the course notes' order.
func GroupStates(gs []group.Group) []collect.State {
	var any [collect.NumStates]bool
	for i := range gs {
		for st, n := range gs[i].States {
			if n > 0 {
				any[st] = true
			}
		}
	}
	var out []collect.State
	for _, st := range group.StateOrder() {
		if any[st] {
			out = append(out, st)
		}
	}
	return out
}

// RatesShown reports whether a group table has rate columns: when any
// group has a member with a rate.
func RatesShown(gs []group.Group) bool {
	for i := range gs {
		if gs[i].RateKnown() {
			return true
		}
	}
	return false
}

// FormatRate prints bytes per second as the tables show it: 512B/s,
// 1.5K/s, 12M/s, in powers of 1024.
func FormatRate(v float64) string {
	const units = "BKMGT"
	u := 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	if u == 0 || v >= 10 {
		return strconv.FormatFloat(v, 'f', 0, 64) + string(units[u]) + "/s"
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + string(units[u]) + "/s"
}

// GroupRates returns a group's send and receive cells: "?" when none of
// its sockets has a rate.
func GroupRates(g *group.Group) (send, recv string) {
	if !g.RateKnown() {
		return "?", "?"
	}
	return FormatRate(g.Send), FormatRate(g.Recv)
}

// GroupOwners is a group's owners cell: the first few, and how many more.
func GroupOwners(g *group.Group) string {
	var b strings.Builder
	for i, o := range g.Owners {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(o.Name)
		b.WriteByte('/')
		b.WriteString(strconv.Itoa(o.PID))
	}
	if more := g.OwnerCount - len(g.Owners); more > 0 {
		b.WriteString(" +" + strconv.Itoa(more))
	}
	return b.String()
}

// KeyTitle is the key column's title for groups by b.
func KeyTitle(b group.By) string {
	switch b {
	case group.ByPort:
		return "Port"
	case group.ByRemote:
		return "Remote"
	case group.ByProcess:
		return "Process"
	case group.ByState:
		return "State"
	case group.ByContainer:
		return "NetNS"
	}
	return "Key"
}

// WriteGroupTable prints `socktop --once --group-by BY`: one line per
// group with its key, count, a column per state any group has, send and
// receive totals when any socket has a rate ("?" for a group none of
// whose sockets has one), and its owners (but by process, where the key
// is the owner).
func WriteGroupTable(w io.Writer, gs []group.Group, by group.By, header bool) error {
	states := GroupStates(gs)
	rates := RatesShown(gs)
	titles := []string{KeyTitle(by), "Count"}
	for _, st := range states {
		titles = append(titles, st.String())
	}
	if rates {
		titles = append(titles, "Send", "Recv")
	}
	// By process, the key is the owner.
	owners := by != group.ByProcess
	if owners {
		titles = append(titles, "Owners")
	}
	rows := make([][]string, 0, len(gs)+1)
	if header {
		rows = append(rows, titles)
	}
	for i := range gs {
		g := &gs[i]
		r := []string{g.Key.String(), strconv.Itoa(g.Count)}
		for _, st := range states {
			r = append(r, strconv.Itoa(g.States[st]))
		}
		if rates {
			s, rv := GroupRates(g)
			r = append(r, s, rv)
		}
		if owners {
			r = append(r, GroupOwners(g))
		}
		rows = append(rows, r)
	}
	width := make([]int, len(titles))
	for _, r := range rows {
		for j, c := range r {
			width[j] = max(width[j], len(c))
		}
	}
	bw := bufio.NewWriter(w)
	var line []byte
	last := len(titles) - 1
	for _, r := range rows {
		line = line[:0]
		for j, c := range r {
			line = appendPadded(line, []byte(c), width[j], j > 0 && !(owners && j == last), j == last)
		}
		// A group without owners leaves the padding of the column before.
		line = append(bytes.TrimRight(line, " "), '\n')
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// jsonGroup is one group of `socktop --once --json --group-by BY`. The
// key is as the table shows it; the field named after the key (port,
// addr, pid and name, state, netns) holds it typed, and is absent for the
// group of sockets without the key ("none") or whose key is unknown
// ("unknown"). Rates are null when none of the group's sockets has one.
type jsonGroup struct {
	Key        string          `json:"key"`
	None       bool            `json:"none,omitempty"`
	Unknown    bool            `json:"unknown,omitempty"`
	Port       *uint16         `json:"port,omitempty"`
	Addr       string          `json:"addr,omitempty"`
	PID        int             `json:"pid,omitempty"`
	Name       string          `json:"name,omitempty"`
	State      string          `json:"state,omitempty"`
	NetNS      *collect.NetNS  `json:"netns,omitempty"`
	Count      int             `json:"count"`
	States     map[string]int  `json:"states"`
	Owners     []collect.Owner `json:"owners"`
	OwnerCount int             `json:"owner_count"`
	Rates      *jsonGroupRates `json:"rates"`
	Filter     string          `json:"filter,omitempty"`
}

type jsonGroupRates struct {
	Send  float64 `json:"send_bytes_per_s"`
	Recv  float64 `json:"recv_bytes_per_s"`
	Rated int     `json:"rated"`
}

// WriteGroupJSON prints the groups as one JSON array of group objects
// (see jsonGroup), in the order given, followed by a newline. "filter"
// is the expression that selects the group's sockets, where one does.
func WriteGroupJSON(w io.Writer, gs []group.Group) error {
	out := make([]jsonGroup, len(gs))
	for i := range gs {
		g := &gs[i]
		j := jsonGroup{Key: g.Key.String(), Count: g.Count, States: map[string]int{},
			Owners: append([]collect.Owner{}, g.Owners...), OwnerCount: g.OwnerCount}
		switch g.Key.Special {
		case group.NoKey:
			j.None = true
		case group.UnknownKey:
			j.Unknown = true
		default:
			k := g.Key
			switch k.By {
			case group.ByPort:
				j.Port = &k.Port
			case group.ByRemote:
				j.Addr = k.Addr.String()
			case group.ByProcess:
				j.PID, j.Name = k.Owner.PID, k.Owner.Name
			case group.ByState:
				j.State = k.State.String()
			case group.ByContainer:
				j.NetNS = &k.NetNS
			}
		}
		for st, n := range g.States {
			if n > 0 {
				j.States[collect.State(st).String()] = n
			}
		}
		if g.RateKnown() {
			j.Rates = &jsonGroupRates{Send: g.Send, Recv: g.Recv, Rated: g.Rated}
		}
		j.Filter, _ = g.Key.Filter()
		out[i] = j
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
