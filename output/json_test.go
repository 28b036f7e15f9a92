package output_test

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"reflect"
	"testing"
	"time"

	. "socktop/collect"
	"socktop/internal/synth"
	"socktop/output"
)

// The JSON contract of the architecture note, written the plain way, with
// encoding/json: the reference WriteJSON's hand-made encoder must agree
// with.

// jsonAddr is an endpoint in the JSON contract.
type jsonAddr struct {
	Addr string `json:"addr"`
	Port uint16 `json:"port"`
}

// jsonSocket is a socket in the JSON contract. The pointer fields are
// the ones a source may not know (Socket.Unknown): nil, and so absent
// from the document, when unknown.
type jsonSocket struct {
	Proto   string    `json:"proto"`
	Family  uint8     `json:"family"`
	State   string    `json:"state"`
	Local   jsonAddr  `json:"local"`
	Remote  jsonAddr  `json:"remote"`
	RecvQ   *uint32   `json:"recv_q,omitempty"`
	SendQ   *uint32   `json:"send_q,omitempty"`
	UID     *uint32   `json:"uid,omitempty"`
	Inode   *uint32   `json:"inode,omitempty"`
	Cookie  *uint64   `json:"cookie,omitempty"`
	Owners  *[]Owner  `json:"owners,omitempty"`
	Timer   *string   `json:"timer,omitempty"`
	TimerMS *int64    `json:"timer_ms,omitempty"`
	Retrans *uint8    `json:"retrans,omitempty"`
	Mark    *uint32   `json:"mark,omitempty"`
	CgID    *uint64   `json:"cgroup_id,omitempty"`
	Cgroup  *string   `json:"cgroup,omitempty"`
	Info    *TCPInfo  `json:"tcp_info,omitempty"`
	Peer    *jsonPeer `json:"peer,omitempty"`
}

// jsonPeer is the other end of a local connection in the JSON contract.
type jsonPeer struct {
	Inode  *uint32  `json:"inode,omitempty"`
	Cookie *uint64  `json:"cookie,omitempty"`
	Owners *[]Owner `json:"owners,omitempty"`
}

// naivePeer finds the other end of socks[i] the slow plain way, for the
// loopback connections the reference tests hold: the first socket of
// the same protocol and namespace with the reversed 4-tuple (v4-mapped
// addresses unmapped), a live one before a TIME_WAIT one.
func naivePeer(socks []Socket, i int) *jsonPeer {
	s := &socks[i]
	unmap := func(ap netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()) }
	if s.Proto == Unix || s.Remote.Port() == 0 || !s.Remote.Addr().Unmap().IsLoopback() {
		return nil
	}
	var found *Socket
	for j := range socks {
		o := &socks[j]
		if o.Proto == s.Proto && o.NetNS == s.NetNS && unmap(o.Local) == unmap(s.Remote) && unmap(o.Remote) == unmap(s.Local) &&
			(found == nil || found.State == StateTimeWait && o.State != StateTimeWait) {
			found = o
		}
	}
	if found == nil {
		return nil
	}
	owners := found.Owners
	if owners == nil {
		owners = []Owner{}
	}
	return &jsonPeer{
		Inode:  known(found, FieldInode, found.Inode),
		Cookie: known(found, FieldCookie, found.Cookie),
		Owners: known(found, FieldOwners, owners),
	}
}

// jsonEndpoint returns an endpoint for the JSON form; one with no address
// is "0.0.0.0" or "::" by family, port 0, as the contract says.
func jsonEndpoint(ap netip.AddrPort, family uint8) jsonAddr {
	if !ap.Addr().IsValid() {
		if family == 6 {
			return jsonAddr{Addr: "::"}
		}
		return jsonAddr{Addr: "0.0.0.0"}
	}
	return jsonAddr{Addr: ap.Addr().String(), Port: ap.Port()}
}

// known returns &v when the socket knows field f, nil otherwise.
// rootCgroupID is the id of the root cgroup v2, 0 (no cgroup) where
// cgroup2 is not mounted.
func rootCgroupID(t *testing.T) uint64 {
	id, err := CgroupID("/")
	if err != nil {
		t.Logf("no root cgroup: %v", err)
		return 0
	}
	return id
}

func known[T any](s *Socket, f Fields, v T) *T {
	if !s.Known(f) {
		return nil
	}
	return &v
}

// toJSON is the socket in the contract's form, for encoding/json: owners
// is [] rather than null when nobody holds it, and a field the source
// could not know (Socket.Unknown) is nil, so left out.
func toJSON(s *Socket) jsonSocket {
	owners := s.Owners
	if owners == nil {
		owners = []Owner{}
	}
	var cgID *uint64
	var cgPath *string
	if s.Known(FieldCgroup) && s.CgroupID != 0 {
		cgID = &s.CgroupID
		if p, ok := CgroupPath(s.CgroupID); ok {
			cgPath = &p
		}
	}
	return jsonSocket{
		Proto:   s.Proto.String(),
		Family:  s.Family,
		State:   s.State.Canonical().String(),
		Local:   jsonEndpoint(s.Local, s.Family),
		Remote:  jsonEndpoint(s.Remote, s.Family),
		RecvQ:   known(s, FieldRecvQ, s.RecvQ),
		SendQ:   known(s, FieldSendQ, s.SendQ),
		UID:     known(s, FieldUID, s.UID),
		Inode:   known(s, FieldInode, s.Inode),
		Cookie:  known(s, FieldCookie, s.Cookie),
		Owners:  known(s, FieldOwners, owners),
		Timer:   known(s, FieldTimer, s.Timer.String()),
		TimerMS: known(s, FieldTimer, s.TimerLeft.Milliseconds()),
		Retrans: known(s, FieldRetrans, s.Retrans),
		Mark:    known(s, FieldMark, s.Mark),
		CgID:    cgID,
		Cgroup:  cgPath,
		Info:    s.Info,
	}
}

// WriteJSON streams by hand; it must say exactly what encoding/json says of
// the same sockets through toJSON, for awkward values too.
func TestWriteJSONAgreesWithEncodingJSON(t *testing.T) {
	snap := synth.Table(2000, 7)
	snap.Partial = true
	odd := []Socket{
		{Proto: UDP, Family: 6, State: StateUnconn, Local: netip.MustParseAddrPort("[::]:53")},
		{Proto: TCP, Family: 4, State: StateNewSynRecv},
		{Proto: TCP, Family: 6, State: StateEstablished,
			Local:  netip.MustParseAddrPort("[::ffff:127.0.0.1]:22"),
			Remote: netip.MustParseAddrPort("[fe80::1%eth0]:5000"),
			Owners: []Owner{{PID: 1, Name: "a\"b\\c\n\t<x>&\x01\u2028é\xff"}, {PID: 2, Name: ""}},
			Timer:  TimerOn, TimerLeft: 1500 * time.Microsecond, Retrans: 3,
			Info: &TCPInfo{RTT: time.Millisecond, Cwnd: 10, BytesAcked: 1 << 40}},
		// What gopsutil cannot know, and an owner that could not be looked up.
		{Proto: TCP, Family: 4, State: StateListen, Local: netip.MustParseAddrPort("127.0.0.1:80"),
			Unknown: FieldRecvQ | FieldSendQ | FieldUID | FieldInode | FieldTimer | FieldRetrans | FieldCookie | FieldOwners},
		{Proto: UDP, Family: 4, State: StateUnconn, Inode: 7, Cookie: 9, Unknown: FieldOwners},
		// A mark and a cgroup, one cgroup gone (no path), and both unknown.
		{Proto: TCP, Family: 4, State: StateListen, Inode: 8, Cookie: 10, Mark: 0x10, CgroupID: rootCgroupID(t)},
		{Proto: TCP, Family: 4, State: StateListen, Inode: 9, Cookie: 11, Mark: 1, CgroupID: 1<<62 + 7},
		{Proto: TCP, Family: 4, State: StateTimeWait, Cookie: 12, Mark: 3, Unknown: FieldMark | FieldInode},
		{Proto: TCP, Family: 4, State: StateListen, Inode: 10, Cookie: 13, CgroupID: 5, Unknown: FieldMark | FieldCgroup},
		// Both ends of local connections: an IPv4 client of a dual-stack
		// listener, and a pair whose server end's cookie and owners are
		// unknown.
		{Proto: TCP, Family: 4, State: StateEstablished, Inode: 11, Cookie: 21, Owners: []Owner{{PID: 5, Name: "curl"}},
			Local: netip.MustParseAddrPort("127.0.0.1:50000"), Remote: netip.MustParseAddrPort("127.0.0.1:8080")},
		{Proto: TCP, Family: 6, State: StateEstablished, Inode: 12, Cookie: 22,
			Local: netip.MustParseAddrPort("[::ffff:127.0.0.1]:8080"), Remote: netip.MustParseAddrPort("[::ffff:127.0.0.1]:50000")},
		{Proto: UDP, Family: 6, State: StateEstablished, Inode: 13, Cookie: 23,
			Local: netip.MustParseAddrPort("[::1]:50001"), Remote: netip.MustParseAddrPort("[::1]:53")},
		{Proto: UDP, Family: 6, State: StateEstablished, Inode: 14, Unknown: FieldCookie | FieldOwners,
			Local: netip.MustParseAddrPort("[::1]:53"), Remote: netip.MustParseAddrPort("[::1]:50001")},
	}
	snap.Sockets = append(snap.Sockets, odd...)
	snap.Owners = OwnersPartial

	var got bytes.Buffer
	if err := output.WriteJSON(&got, snap); err != nil {
		t.Fatal(err)
	}
	sockets := make([]jsonSocket, len(snap.Sockets))
	for i := range snap.Sockets {
		sockets[i] = toJSON(&snap.Sockets[i])
		sockets[i].Peer = naivePeer(snap.Sockets, i)
	}
	want, err := json.Marshal(map[string]any{
		"taken":          snap.Taken.Format(time.RFC3339Nano),
		"source":         snap.Source,
		"partial":        snap.Partial,
		"owners_known":   true,
		"owners_partial": true,
		"sockets":        sockets,
	})
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	if err := json.Unmarshal(got.Bytes(), &g); err != nil {
		t.Fatalf("WriteJSON wrote invalid JSON: %v", err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		gs := g.(map[string]any)["sockets"].([]any)
		ws := w.(map[string]any)["sockets"].([]any)
		for i := range ws {
			if !reflect.DeepEqual(gs[i], ws[i]) {
				t.Fatalf("socket %d differs:\n got %v\nwant %v", i, gs[i], ws[i])
			}
		}
		t.Fatalf("documents differ outside the sockets")
	}
	// The escaped name itself, byte for byte, as encoding/json writes it.
	name := odd[2].Owners[0].Name
	wantName, _ := json.Marshal(name)
	if !bytes.Contains(got.Bytes(), wantName) {
		t.Errorf("WriteJSON does not escape %q as encoding/json does (%s)", name, wantName)
	}
	if !bytes.HasSuffix(got.Bytes(), []byte("]}\n")) {
		t.Errorf("document does not end with a newline")
	}
}

func BenchmarkWriteJSON100k(b *testing.B) {
	snap := synth.Table(100000, 1)
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := output.WriteJSON(&buf, snap); err != nil {
			b.Fatal(err)
		}
	}
}

// A field the source could not know is absent, never 0; the snapshot says
// whether owners were looked up at all, and whether the look was partial.
func TestWriteJSONLeavesOutUnknown(t *testing.T) {
	all := FieldRecvQ | FieldSendQ | FieldUID | FieldInode | FieldTimer | FieldRetrans | FieldCookie | FieldOwners
	keys := map[Fields][]string{
		FieldRecvQ: {"recv_q"}, FieldSendQ: {"send_q"}, FieldUID: {"uid"}, FieldInode: {"inode"},
		FieldTimer: {"timer", "timer_ms"}, FieldRetrans: {"retrans"}, FieldCookie: {"cookie"}, FieldOwners: {"owners"},
	}
	for _, c := range []struct {
		cov            OwnerCoverage
		known, partial bool
	}{{OwnersNotLooked, false, false}, {OwnersPartial, true, true}, {OwnersComplete, true, false}} {
		snap := &Snapshot{Source: "test", Owners: c.cov, Sockets: []Socket{
			{Proto: TCP, Family: 4, State: StateListen, Unknown: all},
			{Proto: TCP, Family: 4, State: StateTimeWait},
		}}
		var buf bytes.Buffer
		if err := output.WriteJSON(&buf, snap); err != nil {
			t.Fatal(err)
		}
		var doc struct {
			OwnersKnown   *bool `json:"owners_known"`
			OwnersPartial *bool `json:"owners_partial"`
			Sockets       []map[string]json.RawMessage
		}
		if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
			t.Fatalf("%v: %s", err, buf.Bytes())
		}
		if doc.OwnersKnown == nil || *doc.OwnersKnown != c.known || doc.OwnersPartial == nil || *doc.OwnersPartial != c.partial {
			t.Errorf("coverage %v: %s, want owners_known %v, owners_partial %v", c.cov, buf.Bytes(), c.known, c.partial)
		}
		for f, ks := range keys {
			for _, k := range ks {
				if _, ok := doc.Sockets[0][k]; ok {
					t.Errorf("unknown %q present: %s", k, buf.Bytes())
				}
				if _, ok := doc.Sockets[1][k]; !ok {
					t.Errorf("known %q (field %b) absent: %s", k, f, buf.Bytes())
				}
			}
		}
		if string(doc.Sockets[1]["owners"]) != "[]" {
			t.Errorf("a TIME_WAIT socket's known-empty owners = %s, want []", doc.Sockets[1]["owners"])
		}
	}
}
