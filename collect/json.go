package collect

import (
	"bufio"
	"encoding/json"
	"io"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"
)

// jsonAddr is an endpoint in the JSON contract of the architecture note.
type jsonAddr struct {
	Addr string `json:"addr"`
	Port uint16 `json:"port"`
}

// jsonSocket is a socket in the JSON contract. The pointer fields are
// the ones a source may not know (Socket.Unknown): nil, and so absent
// from the document, when unknown.
type jsonSocket struct {
	Proto   string   `json:"proto"`
	Family  uint8    `json:"family"`
	State   string   `json:"state"`
	Local   jsonAddr `json:"local"`
	Remote  jsonAddr `json:"remote"`
	RecvQ   *uint32  `json:"recv_q,omitempty"`
	SendQ   *uint32  `json:"send_q,omitempty"`
	UID     *uint32  `json:"uid,omitempty"`
	Inode   *uint32  `json:"inode,omitempty"`
	Cookie  *uint64  `json:"cookie,omitempty"`
	Owners  *[]Owner `json:"owners,omitempty"`
	Timer   *string  `json:"timer,omitempty"`
	TimerMS *int64   `json:"timer_ms,omitempty"`
	Retrans *uint8   `json:"retrans,omitempty"`
	Info    *TCPInfo `json:"tcp_info,omitempty"`
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

// MarshalJSON encodes the socket in the form of the architecture note's
// JSON contract: owners is [] rather than null when nobody holds it, and
// a field the source could not know (Socket.Unknown) is left out.
func (s Socket) MarshalJSON() ([]byte, error) {
	return json.Marshal(s.toJSON())
}

// known returns &v when the socket knows field f, nil otherwise.
func known[T any](s *Socket, f Fields, v T) *T {
	if !s.Known(f) {
		return nil
	}
	return &v
}

func (s *Socket) toJSON() jsonSocket {
	owners := s.Owners
	if owners == nil {
		owners = []Owner{}
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
		Info:    s.Info,
	}
}

// WriteJSON writes the snapshot as one JSON document, in the form of the
// architecture note, followed by a newline. "owners_known" is false when
// no owner scan was made (every socket then lacks "owners"), and
// "owners_partial" is true when some processes could not be read: an
// owner list may then miss holders, and a socket whose owners are unknown
// lacks "owners". It streams: each socket is
// appended to a reused buffer and written out, so 100k sockets cost
// neither a copy of the table nor the whole document in memory (the
// encoding/json version took 3x the time and twice the peak memory).
func WriteJSON(w io.Writer, snap *Snapshot) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	b := make([]byte, 0, 1024)
	b = append(b, `{"taken":`...)
	b = appendJSONString(b, snap.Taken.Format(time.RFC3339Nano))
	b = append(b, `,"source":`...)
	b = appendJSONString(b, snap.Source)
	b = append(b, `,"partial":`...)
	b = strconv.AppendBool(b, snap.Partial)
	b = append(b, `,"owners_known":`...)
	b = strconv.AppendBool(b, snap.Owners != OwnersNotLooked)
	b = append(b, `,"owners_partial":`...)
	b = strconv.AppendBool(b, snap.Owners == OwnersPartial)
	b = append(b, `,"sockets":[`...)
	for i := range snap.Sockets {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendSocketJSON(b, &snap.Sockets[i]); err != nil {
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

// appendSocketJSON appends one socket in the same form as MarshalJSON.
func appendSocketJSON(b []byte, s *Socket) ([]byte, error) {
	b = append(b, `{"proto":"`...)
	b = append(b, s.Proto.String()...)
	b = append(b, `","family":`...)
	b = strconv.AppendUint(b, uint64(s.Family), 10)
	b = append(b, `,"state":"`...)
	b = append(b, s.State.Canonical().String()...)
	b = append(b, `","local":`...)
	b = appendEndpointJSON(b, s.Local, s.Family)
	b = append(b, `,"remote":`...)
	b = appendEndpointJSON(b, s.Remote, s.Family)
	if s.Known(FieldRecvQ) {
		b = append(b, `,"recv_q":`...)
		b = strconv.AppendUint(b, uint64(s.RecvQ), 10)
	}
	if s.Known(FieldSendQ) {
		b = append(b, `,"send_q":`...)
		b = strconv.AppendUint(b, uint64(s.SendQ), 10)
	}
	if s.Known(FieldUID) {
		b = append(b, `,"uid":`...)
		b = strconv.AppendUint(b, uint64(s.UID), 10)
	}
	if s.Known(FieldInode) {
		b = append(b, `,"inode":`...)
		b = strconv.AppendUint(b, uint64(s.Inode), 10)
	}
	if s.Known(FieldCookie) {
		b = append(b, `,"cookie":`...)
		b = strconv.AppendUint(b, s.Cookie, 10)
	}
	if s.Known(FieldOwners) {
		b = append(b, `,"owners":[`...)
		for i, o := range s.Owners {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"pid":`...)
			b = strconv.AppendInt(b, int64(o.PID), 10)
			b = append(b, `,"name":`...)
			b = appendJSONString(b, o.Name)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if s.Known(FieldTimer) {
		b = append(b, `,"timer":"`...)
		b = append(b, s.Timer.String()...)
		b = append(b, `","timer_ms":`...)
		b = strconv.AppendInt(b, s.TimerLeft.Milliseconds(), 10)
	}
	if s.Known(FieldRetrans) {
		b = append(b, `,"retrans":`...)
		b = strconv.AppendUint(b, uint64(s.Retrans), 10)
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
	return append(b, '}'), nil
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

// appendJSONString appends s as a JSON string, as encoding/json would:
// quotes, backslashes and control characters escaped, invalid UTF-8 as
// U+FFFD. Process names are the only free text in a snapshot.
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
