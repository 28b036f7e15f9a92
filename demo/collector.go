package demo

import (
	"context"

	"socktop/collect"
)

// snapshotter is what the headless runner needs from a collector.
type snapshotter interface {
	Snapshot(ctx context.Context) (collect.Snapshot, error)
}

// CollectOptions are the collector options a demo needs: TCP and UDP over
// IPv4, every state including bound-inactive (CLOSED is only dumped when
// the mask asks for it), no owners and no tcp_info, which the promises do
// not use.
func CollectOptions() collect.Options {
	return collect.Options{
		TCP: true, UDP: true, IPv4: true,
		States: collect.AllStates | 1<<collect.StateBoundInactive | 1<<collect.StateNewSynRecv,
	}
}

// newCollector returns the netlink collector with CollectOptions.
func newCollector() *collect.Netlink { return collect.NewNetlink(CollectOptions()) }

// socketsOnPort counts the sockets with port at either end, in any state.
func socketsOnPort(ctx context.Context, port uint16) (int, error) {
	src := newCollector()
	defer src.Close()
	snap, err := src.Snapshot(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range snap.Sockets {
		if s := &snap.Sockets[i]; s.Local.Port() == port || s.Remote.Port() == port {
			n++
		}
	}
	return n, nil
}
