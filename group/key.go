// Package group counts a snapshot's sockets by a key: local port, remote
// host, owning process, state or network namespace. It answers the
// questions asked of groups rather than rows ("which port holds the
// TIME_WAITs", "which process has the connections"), for the terminal's
// group view and the headless --group-by forms. It knows nothing about
// terminals.
package group

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"socktop/collect"
)

// By is what sockets are grouped by.
type By uint8

// The keys a snapshot can be grouped by.
const (
	// ByPort groups TCP and UDP sockets by their local port, whatever the
	// state: a listener on :8080 and the connections it accepted share
	// the group, and so does an outgoing connection that happens to use
	// 8080 as its own port. Unix sockets, which have no port, fall into
	// one group that has no key (shown as "-").
	ByPort By = iota + 1
	// ByRemote groups by the remote address, the port left out. Sockets
	// with no peer (listeners, unconnected UDP, Unix sockets) share the
	// group with no key, shown as "*" as ss shows their peer.
	ByRemote
	// ByProcess groups by owner, name and pid. A socket held by several
	// processes (shared after fork) counts once in each owner's group, so
	// the counts may add up to more than the sockets. Sockets no process
	// holds (TIME_WAIT, orphans) share the group with no key ("-");
	// sockets whose owners socktop could not tell share the unknown group
	// ("?").
	ByProcess
	// ByState groups by state, NEW_SYN_RECV counted as SYN_RECV and
	// BOUND_INACTIVE as CLOSED, as the table shows them.
	ByState
	// ByContainer groups by network namespace (a container, an ip netns
	// name, "host").
	ByContainer
)

// Bys lists every key in the order the terminal's group key cycles
// through them.
var Bys = []By{ByPort, ByRemote, ByProcess, ByState, ByContainer}

var byNames = [...]string{ByPort: "port", ByRemote: "remote", ByProcess: "process", ByState: "state", ByContainer: "container"}

// String returns the key's name as --group-by takes it: port, remote,
// process, state or container.
func (b By) String() string {
	if int(b) < len(byNames) && byNames[b] != "" {
		return byNames[b]
	}
	return "?"
}

// ParseBy reads a --group-by value.
func ParseBy(s string) (By, error) {
	for _, b := range Bys {
		if s == b.String() {
			return b, nil
		}
	}
	return 0, fmt.Errorf("group by %q: want port, remote, process, state or container", s)
}

// Special says a Key stands for sockets the key does not apply to.
type Special uint8

// The special keys.
const (
	// Keyed is an ordinary key.
	Keyed Special = iota
	// NoKey is the group of sockets that have none of this key: Unix
	// sockets by port, peerless sockets by remote, unowned sockets by
	// process.
	NoKey
	// UnknownKey is the group of sockets whose key socktop could not
	// tell: owners that were not looked up or could not be read.
	UnknownKey
)

// Key is one group's key. Only the field of its By is set, so that Keys
// compare equal exactly when they name the same group.
type Key struct {
	By      By
	Special Special
	// Port is ByPort's local port.
	Port uint16
	// Addr is ByRemote's remote address.
	Addr netip.Addr
	// Owner is ByProcess's process.
	Owner collect.Owner
	// State is ByState's state, canonical.
	State collect.State
	// NetNS is ByContainer's namespace.
	NetNS collect.NetNS
}

// keyOf is the key of s, for every By but ByProcess (which has one key
// per owner).
func keyOf(s *collect.Socket, by By) Key {
	k := Key{By: by}
	switch by {
	case ByPort:
		if s.Proto == collect.Unix {
			k.Special = NoKey
		} else {
			k.Port = s.Local.Port()
		}
	case ByRemote:
		a := s.Remote.Addr()
		if s.Proto == collect.Unix || !a.IsValid() || a.IsUnspecified() {
			k.Special = NoKey
		} else {
			k.Addr = a
		}
	case ByState:
		k.State = s.State.Canonical()
	case ByContainer:
		k.NetNS = s.NetNS
	}
	return k
}

// String is the key as the group table shows it: ":8080", "10.0.0.5",
// "nginx[812]", "TIME_WAIT", the namespace's name; "-" or "*" for the
// sockets without the key and "?" for those whose key is unknown.
func (k Key) String() string {
	switch k.Special {
	case UnknownKey:
		return "?"
	case NoKey:
		if k.By == ByRemote {
			return "*"
		}
		return "-"
	}
	switch k.By {
	case ByPort:
		return ":" + strconv.Itoa(int(k.Port))
	case ByRemote:
		return k.Addr.String()
	case ByProcess:
		return k.Owner.Name + "/" + strconv.Itoa(k.Owner.PID)
	case ByState:
		return k.State.String()
	case ByContainer:
		if k.NetNS.Name != "" {
			return k.NetNS.Name
		}
		return "netns:" + strconv.FormatUint(uint64(k.NetNS.Inode), 10)
	}
	return "?"
}

// Filter returns the filter expression that selects the group's sockets,
// for drilling down from a group to its rows, and false when no
// expression selects exactly them (sockets without an owner, or whose
// owner is unknown; peerless sockets).
func (k Key) Filter() (string, bool) {
	if k.Special != Keyed {
		if k.By == ByPort {
			return "unix", true
		}
		return "", false
	}
	switch k.By {
	case ByPort:
		return "sport = :" + strconv.Itoa(int(k.Port)), true
	case ByRemote:
		if k.Addr.Is6() {
			return "dst [" + k.Addr.String() + "]", true
		}
		return "dst " + k.Addr.String(), true
	case ByProcess:
		// The pid alone is exact; the name is there for the reader.
		return "pid " + strconv.Itoa(k.Owner.PID) + " and proc " + strconv.Quote(k.Owner.Name), true
	case ByState:
		return "state " + strings.ToLower(strings.ReplaceAll(k.State.SSName(), "ESTAB", "established")), true
	case ByContainer:
		if k.NetNS.Inode != 0 {
			return "netns " + strconv.FormatUint(uint64(k.NetNS.Inode), 10), true
		}
		if k.NetNS.Name != "" {
			return "netns " + strconv.Quote(k.NetNS.Name), true
		}
	}
	return "", false
}
