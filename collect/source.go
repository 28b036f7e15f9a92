package collect

import (
	"errors"
	"fmt"
)

// noticeFallback is told when auto falls back from netlink to gopsutil.
const noticeFallback = "sock_diag refused: using gopsutil (no queues, timers or inodes)"

// SourceNames are the names NewSource accepts, the default first.
var SourceNames = []string{"auto", "netlink", "gopsutil"}

// NewSource returns the source called name: "netlink", "gopsutil", or
// "auto" (also ""), which is netlink when the kernel answers a sock_diag
// probe and gopsutil otherwise, with a Notice saying so. Only a refusal
// (an error wrapping ErrUnsupported: no sock_diag, a sandbox) makes auto
// fall back; an error of this process, such as EMFILE, is returned as it
// is, because gopsutil would hit it too and hide its cause. An unknown
// name is an error wrapping ErrUnsupported; so is "netlink" where
// sock_diag cannot be used. A namespace option (NetNS, AllNetNS) makes
// auto mean netlink, since gopsutil sees only socktop's own namespace.
func NewSource(name string, opts Options) (Source, error) {
	if name == "gopsutil" && (opts.NetNS != "" || opts.AllNetNS) {
		return nil, fmt.Errorf("collect: gopsutil sees only socktop's own network namespace: -N and --all-netns need netlink: %w", ErrUnsupported)
	}
	if (name == "" || name == "auto") && (opts.NetNS != "" || opts.AllNetNS) {
		name = "netlink"
	}
	switch name {
	case "", "auto":
		n := NewNetlink(opts)
		err := n.probe()
		if err == nil {
			return n, nil
		}
		if !errors.Is(err, ErrUnsupported) {
			return nil, err
		}
		g := NewGopsutil(opts)
		g.pending = append(g.pending, noticeFallback)
		return g, nil
	case "netlink":
		n := NewNetlink(opts)
		if err := n.probe(); err != nil {
			return nil, err
		}
		return n, nil
	case "gopsutil":
		return NewGopsutil(opts), nil
	}
	return nil, fmt.Errorf("collect: unknown source %q (want auto, netlink or gopsutil): %w", name, ErrUnsupported)
}
