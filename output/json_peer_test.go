package output

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"

	"socktop/collect"
)

// TestWriteJSONPeer: a socket whose other end is in the snapshot carries
// "peer" with that end's inode, cookie and owners, each left out when
// unknown: both ends of a Unix pair (beside peer_inode and peer_owners),
// both ends of a loopback TCP connection, and none for a listener, an
// unconnected socket, a connection to another host, or a local one whose
// other end is not listed.
func TestWriteJSONPeer(t *testing.T) {
	snap := unixSnapshot()
	tcp := func(local, remote string, inode uint32, cookie uint64, owners []collect.Owner) collect.Socket {
		return collect.Socket{Proto: collect.TCP, Family: 4, State: collect.StateEstablished, Inode: inode, Cookie: cookie,
			Owners: owners, Local: netip.MustParseAddrPort(local), Remote: netip.MustParseAddrPort(remote)}
	}
	snap.Sockets = append(snap.Sockets,
		tcp("127.0.0.1:5432", "127.0.0.1:40000", 300, 31, []collect.Owner{{PID: 40, Name: "postgres"}}), // 8
		tcp("127.0.0.1:40000", "127.0.0.1:5432", 301, 32, nil),                                          // 9
		tcp("192.0.2.2:40001", "198.51.100.7:443", 302, 33, nil),                                        // 10
		tcp("127.0.0.1:40002", "127.0.0.1:6000", 303, 34, nil),                                          // 11
	)
	var buf bytes.Buffer
	if err := WriteJSON(&buf, snap); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Sockets []map[string]json.RawMessage
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("%v: %s", err, buf.Bytes())
	}
	want := map[int]string{
		1: `{"inode":102,"cookie":0,"owners":[{"pid":41,"name":"psql"}]}`,
		2: `{"inode":101,"cookie":0,"owners":[{"pid":40,"name":"postgres"}]}`,
		// 106's owners are unknown: absent, as peer_owners is.
		5: `{"inode":106,"cookie":0}`,
		6: `{"inode":105,"cookie":0,"owners":[]}`,
		8: `{"inode":301,"cookie":32,"owners":[]}`,
		9: `{"inode":300,"cookie":31,"owners":[{"pid":40,"name":"postgres"}]}`,
	}
	for i, s := range doc.Sockets {
		got, ok := s["peer"]
		w, want := want[i]
		switch {
		case want && string(got) != w:
			t.Errorf("socket %d: peer %s, want %s", i, got, w)
		case !want && ok:
			t.Errorf("socket %d: peer %s, want none", i, got)
		}
	}
}
