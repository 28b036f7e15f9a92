package output

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"socktop/collect"
)

// unixSockets: a path listener, an accepted connection and its client, an
// abstract name, an unconnected dgram socket, a seqpacket end whose
// peer's owners are unknown, and a TCP listener beside them.
func unixSnapshot() *collect.Snapshot {
	me := []collect.Owner{{PID: 40, Name: "postgres"}}
	return &collect.Snapshot{Source: "test", Owners: collect.OwnersComplete, Sockets: []collect.Socket{
		{Proto: collect.Unix, Type: collect.SockStream, State: collect.StateListen, Path: "/run/postgresql/.s.PGSQL.5432",
			RecvQ: 2, SendQ: 128, Inode: 100, Cookie: 7, Owners: me},
		{Proto: collect.Unix, Type: collect.SockStream, State: collect.StateEstablished, Path: "/run/postgresql/.s.PGSQL.5432",
			Inode: 101, PeerInode: 102, Owners: me},
		{Proto: collect.Unix, Type: collect.SockStream, State: collect.StateEstablished, RecvQ: 5, SendQ: 768,
			Inode: 102, PeerInode: 101, Owners: []collect.Owner{{PID: 41, Name: "psql"}}},
		{Proto: collect.Unix, Type: collect.SockSeqpacket, State: collect.StateListen, Path: "@socktop-x", Inode: 103, Owners: me},
		{Proto: collect.Unix, Type: collect.SockDgram, State: collect.StateUnconn, Inode: 104},
		{Proto: collect.Unix, Type: collect.SockSeqpacket, State: collect.StateEstablished, Inode: 105, PeerInode: 106},
		{Proto: collect.Unix, Type: collect.SockSeqpacket, State: collect.StateEstablished, Inode: 106, PeerInode: 105,
			Unknown: collect.FieldOwners | collect.FieldUID},
		{Proto: collect.TCP, Family: 4, State: collect.StateListen, Inode: 200},
	}}
}

func TestCellsUnix(t *testing.T) {
	snap := unixSnapshot()
	type row [NumColumns]string
	for _, c := range []struct {
		i    int
		form Form
		want row
	}{
		{0, Plain, row{"u_str", "LISTEN", "2", "128", "/run/postgresql/.s.PGSQL.5432:100", "*", "postgres/40", "off", "", "-", "-"}},
		{2, Plain, row{"u_str", "ESTABLISHED", "5", "768", "*:102", "*:101", "psql/41", "off", "", "-", "-"}},
		{2, Narrow, row{"u_s", "ESTABLISHED", "5", "768", "*:102", "*:101", "psql/41", ""}},
		{3, Live, row{"u_seq", "LISTEN", "0", "0", "@socktop-x:103", "*", "postgres/40", ""}},
		{4, Plain, row{"u_dgr", "UNCONN", "0", "0", "*:104", "*", "-", "off", "", "-", "-"}},
		{4, Narrow, row{"u_d", "UNCONN", "0", "0", "*:104", "*", "-", ""}},
		{6, Narrow, row{"u_q", "ESTABLISHED", "0", "0", "*:106", "*:105", "?", ""}},
	} {
		var cells Cells
		s := &snap.Sockets[c.i]
		for col := range NumColumns {
			if col == ColNetNS {
				continue // the namespace column has tests of its own
			}
			if got := string(cells.Append(nil, col, s, c.form)); got != c.want[col] {
				t.Errorf("socket %d, form %d, %s: %q, want %q", c.i, c.form, col, got, c.want[col])
			}
		}
	}
	s := collect.Socket{Proto: collect.Unix, Type: 9, Inode: 1}
	var cells Cells
	if got := string(cells.Append(nil, ColProto, &s, Plain)); got != "unix" {
		t.Errorf("a Unix socket of an unknown type is %q, want unix", got)
	}
}

// TestWriteTableUnix: a Unix row splits into the table's eight fields, as
// a TCP row does.
func TestWriteTableUnix(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteTable(&buf, unixSnapshot(), false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != len(unixSnapshot().Sockets) {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	for _, l := range lines {
		if n := len(strings.Fields(l)); n != 8 {
			t.Errorf("%d fields in %q", n, l)
		}
	}
	if f := strings.Fields(lines[0]); f[0] != "u_str" || f[3] != "/run/postgresql/.s.PGSQL.5432:100" || f[4] != "*" || f[5] != "LISTEN" {
		t.Errorf("listener row %q", lines[0])
	}
}

func TestWriteJSONUnix(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, unixSnapshot()); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Sockets []map[string]json.RawMessage
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("%v: %s", err, buf.Bytes())
	}
	want := []map[string]string{
		{"proto": `"unix"`, "family": "0", "state": `"LISTEN"`, "path": `"/run/postgresql/.s.PGSQL.5432"`, "type": `"stream"`,
			"peer_inode": "0", "recv_q": "2", "send_q": "128", "inode": "100", "cookie": "7", "uid": "0",
			"owners": `[{"pid":40,"name":"postgres"}]`},
		{"path": `"/run/postgresql/.s.PGSQL.5432"`, "peer_inode": "102", "peer_owners": `[{"pid":41,"name":"psql"}]`},
		{"path": `""`, "peer_inode": "101", "peer_owners": `[{"pid":40,"name":"postgres"}]`, "recv_q": "5", "send_q": "768"},
		{"path": `"@socktop-x"`, "type": `"seqpacket"`},
		{"type": `"dgram"`, "state": `"UNCONN"`, "owners": "[]"},
		{"peer_inode": "106"},
		{"peer_inode": "105", "peer_owners": `[]`},
	}
	for i, w := range want {
		got := doc.Sockets[i]
		for k, v := range w {
			if string(got[k]) != v {
				t.Errorf("socket %d: %q is %s, want %s", i, k, got[k], v)
			}
		}
		for _, k := range []string{"local", "remote", "timer", "timer_ms", "retrans"} {
			if _, ok := got[k]; ok {
				t.Errorf("socket %d (unix) has %q", i, k)
			}
		}
	}
	// The peer of 105 has unknown owners, so 105 says nothing of them;
	// 103 and 104 have no peer.
	for _, i := range []int{3, 4, 5} {
		if _, ok := doc.Sockets[i]["peer_owners"]; ok {
			t.Errorf("socket %d has peer_owners %s", i, doc.Sockets[i]["peer_owners"])
		}
	}
	if _, ok := doc.Sockets[6]["uid"]; ok {
		t.Error("an unknown uid is in the JSON")
	}
	tcp := doc.Sockets[7]
	for _, k := range []string{"local", "remote", "timer"} {
		if _, ok := tcp[k]; !ok {
			t.Errorf("the TCP socket lost %q", k)
		}
	}
	for _, k := range []string{"path", "type", "peer_inode", "peer_owners"} {
		if _, ok := tcp[k]; ok {
			t.Errorf("the TCP socket has %q", k)
		}
	}
}

func TestSummaryUnix(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteSummary(&buf, unixSnapshot()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "Total: 8\n") || !strings.Contains(out, "UNIX                7\n") ||
		!strings.Contains(out, "TCP                 1        1        0\n") {
		t.Errorf("summary:\n%s", out)
	}
}

func TestAppendPathHidesControlBytes(t *testing.T) {
	if got := string(AppendPath(nil, "@a\x1b[31mb\x7f\n/é")); got != "@a?[31mb??/é" {
		t.Errorf("AppendPath = %q", got)
	}
	s := collect.Socket{Proto: collect.Unix, Type: collect.SockStream, Path: "/x\ty", Inode: 3}
	var cells Cells
	if got := string(cells.Append(nil, ColLocal, &s, Plain)); got != "/x?y:3" {
		t.Errorf("Local = %q", got)
	}
}
