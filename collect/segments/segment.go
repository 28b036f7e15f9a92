// Package segments captures the TCP segments of chosen connections on an
// interface (AF_PACKET with a classic BPF filter on their ports), for the
// time-sequence diagram of the demo pane and of a selected connection.
package segments

import (
	"net/netip"
	"strings"
	"time"
)

// Flags are a TCP header's control bits.
type Flags uint8

// The TCP control bits, as in the header.
const (
	FIN Flags = 1 << iota
	SYN
	RST
	PSH
	ACK
	URG
	ECE
	CWR
)

var flagNames = [...]string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"}

// String returns the set bits in the order people say them: "SYN,ACK",
// "FIN,ACK", "RST"; PSH, URG, ECE and CWR follow.
func (f Flags) String() string {
	order := [...]Flags{SYN, FIN, RST, ACK, PSH, URG, ECE, CWR}
	var b strings.Builder
	for _, x := range order {
		if f&x != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			for i := range flagNames {
				if x == 1<<i {
					b.WriteString(flagNames[i])
				}
			}
		}
	}
	return b.String()
}

// Segment is one TCP segment seen on the interface, once (loopback shows
// each packet twice; the capture keeps one copy).
type Segment struct {
	// Time is when the kernel saw the packet.
	Time     time.Time
	Src, Dst netip.AddrPort
	Flags    Flags
	// Seq and Ack are the header's absolute numbers; relative numbers
	// are the diagram's business, since they depend on which side's ISN
	// was seen.
	Seq, Ack uint32
	// Len is the payload length.
	Len int
	// Win is the advertised window as sent, before scaling.
	Win uint16
}
