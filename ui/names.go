package ui

import (
	"context"
	"net/netip"
	"time"

	tea "charm.land/bubbletea/v2"

	"socktop/collect"
	"socktop/names"
	"socktop/output"
)

// Names is what the live view names (Config.Names): host names
// (socktop -r), service names (-r, --services). The n key switches
// between them and numbers; with neither asked for, n names both.
type Names struct {
	Hosts, Services bool
	// Lookup is the reverse lookup; nil leaves hosts numeric.
	Lookup names.LookupFunc
	// Cache holds the answers; nil makes one with the package defaults.
	// Tests give one with their own clock.
	Cache *names.Hosts
	// Table is the services table; nil is /etc/services.
	Table *names.Services
}

// Host lookups of the live view: at most maxLookups at a time, each given
// lookupTimeout. The lookups run in commands, off the event loop, and
// their answers come back as hostMsg; a row shows its address until then.
const (
	maxLookups    = 8
	lookupTimeout = 5 * time.Second
	// maxWant bounds the addresses one frame asks for: a frame shows a
	// screenful of rows, two addresses each.
	maxWant = 256
)

// hostMsg is the answer of one reverse lookup.
type hostMsg struct {
	addr  netip.Addr
	names []string
	err   error
}

// nameState is the model's naming: whether names are on, what they name,
// the cache the table reads, and the addresses the last frame drew
// without a name (want), which the next lookups are for.
type nameState struct {
	on, hosts, services bool
	lookup              names.LookupFunc
	cache               *names.Hosts
	table               *names.Services
	want                []netip.Addr
	inflight            int
}

func newNameState(cfg Names) nameState {
	ns := nameState{hosts: cfg.Hosts, services: cfg.Services, lookup: cfg.Lookup, cache: cfg.Cache, table: cfg.Table}
	ns.on = ns.hosts || ns.services
	if ns.cache == nil {
		ns.cache = &names.Hosts{}
	}
	return ns
}

// toggle switches between names and numbers; names on with nothing
// chosen on the command line name both.
func (ns *nameState) toggle() {
	ns.on = !ns.on
	if ns.on && !ns.hosts && !ns.services {
		ns.hosts, ns.services = true, true
	}
}

func (ns *nameState) serviceTable() *names.Services {
	if ns.table == nil {
		ns.table = names.SystemServices()
	}
	return ns.table
}

// drawNamer is the table's Namer while it draws: a host it has no name
// for is remembered, so that the visible rows, and only they, are looked
// up.
type drawNamer struct{ ns *nameState }

func (d drawNamer) Host(a netip.Addr) (string, bool) {
	ns := d.ns
	if !ns.hosts || ns.lookup == nil {
		return "", false
	}
	name, ok := ns.cache.Name(a)
	if !ok && len(ns.want) < maxWant {
		ns.want = append(ns.want, a)
	}
	return name, ok
}

func (d drawNamer) Service(p collect.Proto, port uint16) (string, bool) {
	if !d.ns.services {
		return "", false
	}
	return d.ns.serviceTable().Name(p, port)
}

// measureNamer is the Namer of the column widths, which are measured
// over every row: it asks for nothing.
type measureNamer struct{ ns *nameState }

func (m measureNamer) Host(a netip.Addr) (string, bool) {
	if !m.ns.hosts {
		return "", false
	}
	return m.ns.cache.Name(a)
}

func (m measureNamer) Service(p collect.Proto, port uint16) (string, bool) {
	return drawNamer(m).Service(p, port)
}

// drawNames returns the Namer the table draws with, nil for numbers.
func (m *model) drawNames() output.Namer {
	if !m.names.on {
		return nil
	}
	return drawNamer{&m.names}
}

// measureNames returns the Namer the widths are measured with, nil for
// numbers.
func (m *model) measureNames() output.Namer {
	if !m.names.on {
		return nil
	}
	return measureNamer{&m.names}
}

// lookupCmds starts lookups for the addresses the last frame wanted, as
// many as there are free slots; the rest wait for a later frame, which
// asks again for those still on screen. The commands capture the lookup
// and the context, never the model.
func (m *model) lookupCmds() tea.Cmd {
	ns := &m.names
	if len(ns.want) == 0 {
		return nil
	}
	var cmds []tea.Cmd
	for _, a := range ns.want {
		if ns.inflight >= maxLookups {
			break
		}
		if !ns.cache.Claim(a) {
			continue
		}
		ns.inflight++
		lookup, ctx := ns.lookup, m.ctx
		cmds = append(cmds, func() tea.Msg {
			ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
			defer cancel()
			names, err := lookup(ctx, a.String())
			return hostMsg{addr: a, names: names, err: err}
		})
	}
	ns.want = ns.want[:0]
	return tea.Batch(cmds...)
}

// hostArrived stores a lookup's answer and widens the address columns for
// the name: the visible rows are measured again (the full measure waits
// for the next refresh).
func (m *model) hostArrived(msg hostMsg) {
	m.names.inflight = max(m.names.inflight-1, 0)
	m.names.cache.Put(msg.addr, msg.names, msg.err)
	if !m.names.on || !m.names.hosts {
		return
	}
	need := &m.table.need
	need.names = m.measureNames()
	end := min(m.table.offset+m.table.visibleRows(), len(m.rows))
	for i := m.table.offset; i < end; i++ {
		need.add(m.rows[i].s)
	}
	m.layout()
}
