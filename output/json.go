package output

import (
	"encoding/json"
	"io"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"socktop/collect"
)

// WriteJSON writes the snapshot as one JSON document, in the form of the
// architecture note, followed by a newline. "owners_known" is false when
// no owner scan was made (every socket then lacks "owners"), and
// "owners_partial" is true when some processes could not be read: an
// owner list may then miss holders, and a socket whose owners are unknown
// lacks "owners". "owners_via" says how the descriptor tables were read
// ("bpf-iter" or "proc"), when they were. It streams: each socket is appended to a reused buffer
// and written out, so a large table costs neither a copy of itself nor
// the whole document in memory, as encoding/json would
// (docs/performance.md has the figures).
func WriteJSON(w io.Writer, snap *collect.Snapshot) error {
	return WriteJSONWith(w, snap, nil)
}

// WriteJSONWith is WriteJSON with names (-r, --services): each endpoint
// keeps "addr" and "port" and adds "host" and "service" when names knows
// them.
func WriteJSONWith(w io.Writer, snap *collect.Snapshot, names Namer) error {
	const flushAt = 64 << 10
	b := make([]byte, 0, flushAt+4096)
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
	jc := new(jsonCache)
	for i := range snap.Sockets {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendSocketJSON(b, &snap.Sockets[i], peers, names, jc); err != nil {
			return err
		}
		if len(b) >= flushAt {
			if _, err := w.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	b = append(b, "]}\n"...)
	_, err := w.Write(b)
	return err
}

// appendSocketJSON appends one socket in the form of the JSON contract. A
// Unix socket has "path" ("" when unnamed, "@name" for an abstract name),
// "type" and "peer_inode" (0: no peer) in place of "local" and "remote",
// no timer and no retransmits, and "peer_owners", the owners of the other
// end, when peers finds it in the snapshot and its owners are known. Any
// socket whose other end peers finds (a Unix pair, or both ends of a
// local TCP or UDP connection) has "peer": that socket's "inode",
// "cookie" and "owners", each under the rules of the socket's own. A TCP
// socket whose tcp_info was asked for has "tcp_info", and "rate"
// ({"send_bytes_per_s": N, "recv_bytes_per_s": N}) once its throughput is
// known, which takes two snapshots; it is absent while unknown. A TCP or
// UDP socket has "mark" when the kernel reported it (to CAP_NET_ADMIN
// only), and "cgroup_id" with "cgroup", its path
// relative to the cgroup2 mount ("cgroup" absent when the cgroup is gone),
// when it was made in one. jc holds what the document's earlier rows
// formatted.
func appendSocketJSON(b []byte, s *collect.Socket, peers *collect.Peers, names Namer, jc *jsonCache) ([]byte, error) {
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
		b = appendNamedEndpointJSON(jc.appendEndpoint(0, b, s.Local, s.Family), s.Local, s.Proto, names)
		b = append(b, `,"remote":`...)
		b = appendNamedEndpointJSON(jc.appendEndpoint(1, b, s.Remote, s.Family), s.Remote, s.Proto, names)
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
		b = jc.appendNetNS(b, s.NetNS)
	}
	if s.Known(collect.FieldOwners) {
		b = jc.appendOwners(append(b, `,"owners":`...), s.Owners)
	}
	peer := peers.Of(s)
	if peer != nil {
		b = appendPeerJSON(b, peer)
	}
	if unixSock {
		if peer != nil && peer.Known(collect.FieldOwners) {
			b = appendOwnersJSON(append(b, `,"peer_owners":`...), peer.Owners)
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

// appendPeerJSON appends `,"peer":{...}`: the other end's inode, cookie
// and owners, each left out when the source could not know it.
func appendPeerJSON(b []byte, p *collect.Socket) []byte {
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
		b = appendOwnersJSON(append(b, `"owners":`...), p.Owners)
	}
	return append(b, '}')
}

// appendOwnersJSON appends a list of owners, [{"pid": N, "name": S}...].
func appendOwnersJSON(b []byte, owners []collect.Owner) []byte {
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

// appendEndpointJSON appends {"addr": ..., "port": ...} as jsonEndpoint
// builds it.
func appendEndpointJSON(b []byte, ap netip.AddrPort, family uint8) []byte {
	b = append(b, `{"addr":"`...)
	a := ap.Addr()
	port := ap.Port()
	switch {
	case a.IsValid():
		b = a.AppendTo(b)
	case family == 6:
		b, port = append(b, "::"...), 0
	default:
		b, port = append(b, "0.0.0.0"...), 0
	}
	b = append(b, `","port":`...)
	b = strconv.AppendUint(b, uint64(port), 10)
	return append(b, '}')
}

// appendNamedEndpointJSON adds "host" and "service" to the endpoint
// object of ap that ends b, when names knows them.
func appendNamedEndpointJSON(b []byte, ap netip.AddrPort, proto collect.Proto, names Namer) []byte {
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

// appendJSONString appends s as a JSON string, as encoding/json would:
// quotes, backslashes and control characters escaped, invalid UTF-8 as
// U+FFFD. Process names and Unix paths are the free text of a snapshot.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
