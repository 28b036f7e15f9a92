package collect

import (
	"encoding/json"
	"io"
	"net/netip"
	"time"
)

// jsonAddr is an endpoint in the JSON contract of the architecture note.
type jsonAddr struct {
	Addr string `json:"addr"`
	Port uint16 `json:"port"`
}

type jsonSocket struct {
	Proto   string   `json:"proto"`
	Family  uint8    `json:"family"`
	State   string   `json:"state"`
	Local   jsonAddr `json:"local"`
	Remote  jsonAddr `json:"remote"`
	RecvQ   uint32   `json:"recv_q"`
	SendQ   uint32   `json:"send_q"`
	UID     uint32   `json:"uid"`
	Inode   uint32   `json:"inode"`
	Owners  []Owner  `json:"owners"`
	Timer   string   `json:"timer"`
	TimerMS int64    `json:"timer_ms"`
	Retrans uint8    `json:"retrans"`
	Info    *TCPInfo `json:"tcp_info,omitempty"`
}

type jsonSnapshot struct {
	Taken   string       `json:"taken"`
	Source  string       `json:"source"`
	Partial bool         `json:"partial"`
	Sockets []jsonSocket `json:"sockets"`
}

// unspecified returns the address printed for an endpoint that has none:
// "0.0.0.0" or "::" by family, as the contract says.
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
// JSON contract; owners is [] rather than null when nobody holds it.
func (s Socket) MarshalJSON() ([]byte, error) {
	return json.Marshal(s.toJSON())
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
		RecvQ:   s.RecvQ,
		SendQ:   s.SendQ,
		UID:     s.UID,
		Inode:   s.Inode,
		Owners:  owners,
		Timer:   s.Timer.String(),
		TimerMS: s.TimerLeft.Milliseconds(),
		Retrans: s.Retrans,
		Info:    s.Info,
	}
}

// WriteJSON writes the snapshot as one JSON document, in the form of the
// architecture note, followed by a newline.
func WriteJSON(w io.Writer, snap *Snapshot) error {
	out := jsonSnapshot{
		Taken:   snap.Taken.Format(time.RFC3339Nano),
		Source:  snap.Source,
		Partial: snap.Partial,
		Sockets: make([]jsonSocket, len(snap.Sockets)),
	}
	for i := range snap.Sockets {
		out.Sockets[i] = snap.Sockets[i].toJSON()
	}
	enc := json.NewEncoder(w)
	return enc.Encode(out)
}
