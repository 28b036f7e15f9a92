package main

import (
	"errors"
	"io"
	"syscall"

	"socktop/collect"
	"socktop/filter"
	"socktop/output"
)

// listenerStates are what --listeners asks the kernel for: the listeners
// and the request sockets that make up their SYN queues.
const listenerStates = collect.StateMask(1<<collect.StateListen | 1<<collect.StateSynRecv | 1<<collect.StateNewSynRecv)

// listenerOptions narrows o to what --listeners needs. The filter is not
// given to the kernel: it picks listeners, and a listener's SYN_RECV rows
// must all be there whatever it says.
func listenerOptions(o collect.Options) collect.Options {
	o.TCP, o.UDP, o.Unix = true, false, false
	o.States = listenerStates
	o.Kernel = nil
	return o
}

// countersOf names the namespace --listeners reads the counters of: the
// one -N names, else socktop's own, which under --all-netns is one of
// many (each namespace has counters of its own).
func countersOf(cfg *config) string {
	switch {
	case cfg.netns != "":
		return cfg.netns
	case cfg.allNetNS:
		return collect.HostNetNSName + ", socktop's own; each namespace counts its own"
	}
	return collect.HostNetNSName
}

// writeListeners prints the health of the listeners of snap that the
// filter keeps, and the listen counters of the namespace nsPath, as a
// table or as JSON.
func writeListeners(stdout io.Writer, cfg *config, nsPath string, snap *collect.Snapshot, flt *filter.Filter) error {
	var x collect.ListenerIndex
	all := x.Health(snap.Sockets)
	kept := all[:0]
	for _, h := range all {
		if flt.Match(&snap.Sockets[h.Index]) {
			kept = append(kept, h)
		}
	}
	r := &output.ListenReport{Snap: snap, Health: kept, CountersOf: countersOf(cfg)}
	r.Counters, r.CountersErr = collect.ReadListenCounters(nsPath)
	var err error
	if cfg.json {
		err = output.WriteListenersJSON(stdout, r)
	} else {
		err = output.WriteListeners(stdout, r, !cfg.noHeader)
	}
	if err != nil && !errors.Is(err, syscall.EPIPE) {
		return &runError{err}
	}
	return nil
}

// liveCountersOf is what the live view's header says the counters are
// of: nothing when they are of the one namespace the table shows.
func liveCountersOf(cfg *config) string {
	if cfg.allNetNS {
		return "netns " + collect.HostNetNSName
	}
	return ""
}
