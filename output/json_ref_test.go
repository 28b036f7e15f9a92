package output

// The JSON writer as it was before its endpoints, namespaces and owner
// lists were remembered between rows: WriteJSONWith must print the same
// bytes.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"socktop/collect"
	"socktop/internal/synth"
)

// refWriteJSONWith is WriteJSON with names (-r, --services): each endpoint
// keeps "addr" and "port" and adds "host" and "service" when names knows
// them.
func refWriteJSONWith(w io.Writer, snap *collect.Snapshot, names Namer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	b := make([]byte, 0, 1024)
	b = append(b, `{"taken":`...)
	b = appendJSONString(b, snap.Taken.Format(time.RFC3339Nano))
	b = append(b, `,"source":`...)
	b = appendJSONString(b, snap.Source)
	b = append(b, `,"partial":`...)
	b = strconv.AppendBool(b, snap.Partial)
	b = append(b, `,"owners_known":`...)
	b = strconv.AppendBool(b, snap.Owners != collect.OwnersNotLooked)
	b = append(b, `,"owners_partial":`...)
	b = strconv.AppendBool(b, snap.Owners == collect.OwnersPartial)
	if snap.OwnersVia != "" {
		b = append(b, `,"owners_via":`...)
		b = appendJSONString(b, snap.OwnersVia)
	}
	b = append(b, `,"sockets":[`...)
	// One index per document: each socket then finds its other end in a
	// map lookup or two.
	peers := new(collect.Peers)
	peers.Build(snap.Sockets)
	for i := range snap.Sockets {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = refAppendSocketJSON(b, &snap.Sockets[i], peers, names); err != nil {
			return err
		}
		if len(b) > 32<<10 {
			if _, err := bw.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	b = append(b, "]}\n"...)
	if _, err := bw.Write(b); err != nil {
		return err
	}
	return bw.Flush()
}

// refAppendSocketJSON appends one socket in the form of the JSON contract. A
// Unix socket has "path" ("" when unnamed, "@name" for an abstract name),
// "type" and "peer_inode" (0: no peer) in place of "local" and "remote",
// no timer and no retransmits, and "peer_owners", the owners of the other
// end, when peers finds it in the snapshot and its owners are known. Any
// socket whose other end peers finds (a Unix pair, or both ends of a
// local TCP or UDP connection) has "peer": that socket's "inode",
// "cookie" and "owners", each under the rules of the socket's own. A TCP
// socket whose tcp_info was asked for has "tcp_info", and "rate"
// ({"send_bytes_per_s": N, "recv_bytes_per_s": N}) once its throughput is
// known, which takes two snapshots; it is absent while unknown.
func refAppendSocketJSON(b []byte, s *collect.Socket, peers *collect.Peers, names Namer) ([]byte, error) {
	b = append(b, `{"proto":"`...)
	b = append(b, s.Proto.String()...)
	b = append(b, `","family":`...)
	b = strconv.AppendUint(b, uint64(s.Family), 10)
	b = append(b, `,"state":"`...)
	b = append(b, s.State.Canonical().String()...)
	b = append(b, '"')
	unixSock := s.Proto == collect.Unix
	if unixSock {
		b = append(b, `,"path":`...)
		b = appendJSONString(b, s.Path)
		b = append(b, `,"type":"`...)
		b = append(b, s.Type.String()...)
		b = append(b, `","peer_inode":`...)
		b = strconv.AppendUint(b, uint64(s.PeerInode), 10)
	} else {
		b = append(b, `,"local":`...)
		b = refAppendNamedEndpointJSON(b, s.Local, s.Family, s.Proto, names)
		b = append(b, `,"remote":`...)
		b = refAppendNamedEndpointJSON(b, s.Remote, s.Family, s.Proto, names)
	}
	if s.Known(collect.FieldRecvQ) {
		b = append(b, `,"recv_q":`...)
		b = strconv.AppendUint(b, uint64(s.RecvQ), 10)
	}
	if s.Known(collect.FieldSendQ) {
		b = append(b, `,"send_q":`...)
		b = strconv.AppendUint(b, uint64(s.SendQ), 10)
	}
	if s.Known(collect.FieldUID) {
		b = append(b, `,"uid":`...)
		b = strconv.AppendUint(b, uint64(s.UID), 10)
	}
	if s.Known(collect.FieldInode) {
		b = append(b, `,"inode":`...)
		b = strconv.AppendUint(b, uint64(s.Inode), 10)
	}
	if s.Known(collect.FieldCookie) {
		b = append(b, `,"cookie":`...)
		b = strconv.AppendUint(b, s.Cookie, 10)
	}
	if s.NetNS.Inode != 0 {
		b = append(b, `,"netns":{"inode":`...)
		b = strconv.AppendUint(b, uint64(s.NetNS.Inode), 10)
		if s.NetNS.Name != "" {
			b = append(b, `,"name":`...)
			b = appendJSONString(b, s.NetNS.Name)
		}
		b = append(b, '}')
	}
	if s.Known(collect.FieldOwners) {
		b = refAppendOwnersJSON(append(b, `,"owners":`...), s.Owners)
	}
	peer := peers.Of(s)
	if peer != nil {
		b = refAppendPeerJSON(b, peer)
	}
	if unixSock {
		if peer != nil && peer.Known(collect.FieldOwners) {
			b = refAppendOwnersJSON(append(b, `,"peer_owners":`...), peer.Owners)
		}
		return append(b, '}'), nil
	}
	if s.Known(collect.FieldTimer) {
		b = append(b, `,"timer":"`...)
		b = append(b, s.Timer.String()...)
		b = append(b, `","timer_ms":`...)
		b = strconv.AppendInt(b, s.TimerLeft.Milliseconds(), 10)
	}
	if s.Known(collect.FieldRetrans) {
		b = append(b, `,"retrans":`...)
		b = strconv.AppendUint(b, uint64(s.Retrans), 10)
	}
	if s.Known(collect.FieldMark) {
		b = append(b, `,"mark":`...)
		b = strconv.AppendUint(b, uint64(s.Mark), 10)
	}
	if s.Known(collect.FieldCgroup) && s.CgroupID != 0 {
		b = append(b, `,"cgroup_id":`...)
		b = strconv.AppendUint(b, s.CgroupID, 10)
		if p, ok := collect.CgroupPath(s.CgroupID); ok {
			b = append(b, `,"cgroup":`...)
			b = appendJSONString(b, p)
		}
	}
	if s.Info != nil {
		// Rare (asked for), so the reflective encoder is fine here.
		info, err := json.Marshal(s.Info)
		if err != nil {
			return b, err
		}
		b = append(b, `,"tcp_info":`...)
		b = append(b, info...)
	}
	if s.Rate != nil {
		b = append(b, `,"rate":{"send_bytes_per_s":`...)
		b = strconv.AppendFloat(b, s.Rate.Send, 'f', -1, 64)
		b = append(b, `,"recv_bytes_per_s":`...)
		b = strconv.AppendFloat(b, s.Rate.Recv, 'f', -1, 64)
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

// refAppendPeerJSON appends `,"peer":{...}`: the other end's inode, cookie
// and owners, each left out when the source could not know it.
func refAppendPeerJSON(b []byte, p *collect.Socket) []byte {
	b = append(b, `,"peer":{`...)
	n := len(b)
	sep := func() {
		if len(b) > n {
			b = append(b, ',')
		}
	}
	if p.Known(collect.FieldInode) {
		b = append(b, `"inode":`...)
		b = strconv.AppendUint(b, uint64(p.Inode), 10)
	}
	if p.Known(collect.FieldCookie) {
		sep()
		b = append(b, `"cookie":`...)
		b = strconv.AppendUint(b, p.Cookie, 10)
	}
	if p.Known(collect.FieldOwners) {
		sep()
		b = refAppendOwnersJSON(append(b, `"owners":`...), p.Owners)
	}
	return append(b, '}')
}

// refAppendOwnersJSON appends a list of owners, [{"pid": N, "name": S}...].
func refAppendOwnersJSON(b []byte, owners []collect.Owner) []byte {
	b = append(b, '[')
	for i, o := range owners {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"pid":`...)
		b = strconv.AppendInt(b, int64(o.PID), 10)
		b = append(b, `,"name":`...)
		b = appendJSONString(b, o.Name)
		b = append(b, '}')
	}
	return append(b, ']')
}

// refAppendNamedEndpointJSON appends an endpoint as appendEndpointJSON does,
// with "host" and "service" added when names knows them.
func refAppendNamedEndpointJSON(b []byte, ap netip.AddrPort, family uint8, proto collect.Proto, names Namer) []byte {
	b = appendEndpointJSON(b, ap, family)
	if names == nil {
		return b
	}
	b = b[:len(b)-1] // the closing brace
	if a := ap.Addr(); a.IsValid() && !a.IsUnspecified() {
		if host, ok := names.Host(a); ok {
			b = append(b, `,"host":`...)
			b = appendJSONString(b, host)
		}
	}
	if ap.Port() != 0 {
		if svc, ok := names.Service(proto, ap.Port()); ok {
			b = append(b, `,"service":`...)
			b = appendJSONString(b, svc)
		}
	}
	return append(b, '}')
}

// checkSameJSON writes snap with both writers, with and without names,
// and reports where the documents first differ.
func checkSameJSON(t *testing.T, name string, snap *collect.Snapshot) {
	t.Helper()
	for _, names := range []Namer{nil, tableNames{}} {
		var got, want bytes.Buffer
		if err := WriteJSONWith(&got, snap, names); err != nil {
			t.Fatal(err)
		}
		if err := refWriteJSONWith(&want, snap, names); err != nil {
			t.Fatal(err)
		}
		if g, w := got.Bytes(), want.Bytes(); !bytes.Equal(g, w) {
			i := 0
			for i < min(len(g), len(w)) && g[i] == w[i] {
				i++
			}
			from := max(i-200, 0)
			t.Errorf("%s, names %v: documents differ at byte %d:\n got ...%s\nwant ...%s", name, names != nil,
				i, g[from:min(i+100, len(g))], w[from:min(i+100, len(w))])
		}
	}
}

// The remembered endpoints, namespaces and owner lists print what the
// writer printed without them, byte for byte: synthetic tables, rows
// that stretch every field (zoned and IPv4-mapped addresses, unknown
// fields, tcp_info and rates), Unix sockets with their peers, and rows
// of several namespaces in runs and alone.
func TestWriteJSONMatchesReference(t *testing.T) {
	snap := synth.Table(3000, 9)
	snap.Sockets = append(snap.Sockets, oddSockets()...)
	snap.Sockets = append(snap.Sockets, unixSnapshot().Sockets...)
	for _, s := range cellSockets {
		snap.Sockets = append(snap.Sockets, s)
	}
	snap.Owners, snap.OwnersVia = collect.OwnersPartial, "proc"
	checkSameJSON(t, "synthetic", snap)
	checkSameJSON(t, "empty", &collect.Snapshot{})

	ns := &collect.Snapshot{Sockets: append(oddSockets(), oddSockets()...)}
	for i := range ns.Sockets {
		ns.Sockets[i].NetNS = collect.NetNS{Inode: 4026531840 + uint32(i/3)}
		if i%4 != 0 {
			ns.Sockets[i].NetNS.Name = "ns\"" + strings.Repeat("n", i/3)
		}
		if i%5 == 0 {
			ns.Sockets[i].Owners = []collect.Owner{{PID: 7, Name: "a"}, {PID: 8, Name: "b"}}
		}
	}
	checkSameJSON(t, "netns", ns)
}
