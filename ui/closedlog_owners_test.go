package ui

import (
	"testing"

	"socktop/collect"
)

// An owner learnt from the kernel's events (a connection no snapshot saw
// alive) shows in the closed log's PID and COMM and in its entry's
// socket, which the detail reads; without one the owner stays unknown.
func TestClosedLogOwnersFromEvents(t *testing.T) {
	c := closedConn(tcpSock(collect.StateEstablished, 51000, 8080), us(2_000_000))
	if r := closedCells(&c); r[0] != "?" || r[1] != "?" {
		t.Errorf("no owner: PID %q COMM %q, want ?", r[0], r[1])
	}
	c.Owners, c.OwnersFromEvents = []collect.Owner{{PID: 4242, Name: "curl"}}, true
	if r := closedCells(&c); r[0] != "4242" || r[1] != "curl" {
		t.Errorf("owner from events: PID %q COMM %q, want 4242 curl", r[0], r[1])
	}
	var v closedView
	v.add(&c)
	if s := v.entries[0].sock; s.Unknown&collect.FieldOwners != 0 || len(s.Owners) != 1 || s.Owners[0].PID != 4242 {
		t.Errorf("entry's socket: owners %v, unknown %v; want the owner from events", s.Owners, s.Unknown)
	}
}
