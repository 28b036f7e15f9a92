package ui

import (
	"strconv"

	"socktop/collect"
)

// nsCount counts the network namespaces a snapshot's sockets are in.
// A snapshot lists each namespace's sockets together, so the set is
// looked up only where the namespace changes from one socket to the next.
type nsCount struct {
	count int
	first collect.NetNS
	last  uint32
	seen  map[uint32]bool
}

func (c *nsCount) reset() {
	c.count, c.first, c.last = 0, collect.NetNS{}, 0
	clear(c.seen)
}

func (c *nsCount) add(ns collect.NetNS) {
	if c.count > 0 && ns.Inode == c.last {
		return
	}
	c.last = ns.Inode
	if c.seen == nil {
		c.seen = map[uint32]bool{}
	}
	if c.seen[ns.Inode] {
		return
	}
	c.seen[ns.Inode] = true
	if c.count == 0 {
		c.first = ns
	}
	c.count++
}

// label is what the header says of the namespaces: nothing when the
// sockets are all socktop's own namespace's (or there are none), the
// name of one other (-N NAME), or how many.
func (c *nsCount) label() string {
	switch {
	case c.count > 1:
		return strconv.Itoa(c.count)
	case c.count == 0 || c.first.Name == collect.HostNetNSName || c.first == (collect.NetNS{}):
		return ""
	case c.first.Name != "":
		return c.first.Name
	}
	return strconv.FormatUint(uint64(c.first.Inode), 10)
}

// nextSortCol is the column `s` sorts by after col: NetNS and the rates
// only while the table shows them.
func nextSortCol(col column, need colNeed) column {
	for {
		col = (col + 1) % numColumns
		switch {
		case col == colNetNS && !need.netns:
		case (col == colSendRate || col == colRecvRate) && !need.rates:
		default:
			return col
		}
	}
}

// netnsText names a socket's namespace in the detail view: its name and
// inode, or "" when the source does not tell (gopsutil).
func netnsText(ns collect.NetNS) string {
	switch {
	case ns == collect.NetNS{}:
		return ""
	case ns.Name == "":
		return "inode " + strconv.FormatUint(uint64(ns.Inode), 10)
	case ns.Inode == 0:
		return ns.Name
	}
	return ns.Name + " (inode " + strconv.FormatUint(uint64(ns.Inode), 10) + ")"
}
