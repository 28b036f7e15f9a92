package segments

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
)

// tcpHeader builds a TCP header with doff words (options zeroed).
func tcpHeader(src, dst uint16, seq, ack uint32, f Flags, win uint16, doff int) []byte {
	h := make([]byte, doff*4)
	binary.BigEndian.PutUint16(h[0:], src)
	binary.BigEndian.PutUint16(h[2:], dst)
	binary.BigEndian.PutUint32(h[4:], seq)
	binary.BigEndian.PutUint32(h[8:], ack)
	h[12] = byte(doff << 4)
	h[13] = byte(f)
	binary.BigEndian.PutUint16(h[14:], win)
	return h
}

// ipv4Packet is an IPv4 header of ihl words around tcp and n payload
// bytes, of which only the headers are kept, as the filter keeps them.
func ipv4Packet(ihl int, tcp []byte, n int) []byte {
	h := make([]byte, ihl*4)
	h[0] = 0x40 | byte(ihl)
	binary.BigEndian.PutUint16(h[2:], uint16(len(h)+len(tcp)+n))
	h[6] = 0x40 // DF
	h[8], h[9] = 64, 6
	copy(h[12:], []byte{127, 1, 2, 3})
	copy(h[16:], []byte{127, 4, 5, 6})
	return append(h, tcp...)
}

func ipv6Packet(tcp []byte, n int) []byte {
	h := make([]byte, 40)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(len(tcp)+n))
	h[6], h[7] = 6, 64
	h[23] = 1
	h[39] = 2
	return append(h, tcp...)
}

func TestDecode(t *testing.T) {
	tcp := tcpHeader(40112, 5000, 1000, 2000, PSH|ACK, 512, 8)
	v4 := ipv4Packet(6, tcp, 5)
	var s Segment
	if err := decode(v4, len(v4)+5, &s); err != nil {
		t.Fatal(err)
	}
	want := Segment{
		Src: netip.MustParseAddrPort("127.1.2.3:40112"), Dst: netip.MustParseAddrPort("127.4.5.6:5000"),
		Flags: PSH | ACK, Seq: 1000, Ack: 2000, Len: 5, Win: 512,
	}
	if s != want {
		t.Errorf("IPv4 with options: %+v, want %+v", s, want)
	}

	v6 := ipv6Packet(tcpHeader(5000, 40112, 7, 8, SYN|ACK|ECE, 65483, 10), 0)
	if err := decode(v6, len(v6), &s); err != nil {
		t.Fatal(err)
	}
	want = Segment{
		Src: netip.MustParseAddrPort("[::1]:5000"), Dst: netip.MustParseAddrPort("[::2]:40112"),
		Flags: SYN | ACK | ECE, Seq: 7, Ack: 8, Win: 65483,
	}
	if s != want {
		t.Errorf("IPv6: %+v, want %+v", s, want)
	}

	// A GSO packet over 64 KiB has IP length 0; the wire length stands in.
	big := ipv4Packet(5, tcpHeader(1, 2, 3, 4, ACK, 5, 5), 0)
	binary.BigEndian.PutUint16(big[2:], 0)
	if err := decode(big, 100_040, &s); err != nil || s.Len != 100_000 {
		t.Errorf("IPv4 length 0, wire 100040: len %d, %v; want 100000", s.Len, err)
	}
}

func TestDecodeRejects(t *testing.T) {
	tcp := tcpHeader(1, 2, 3, 4, ACK, 5, 5)
	udp := ipv4Packet(5, tcp, 0)
	udp[9] = 17
	frag := ipv4Packet(5, tcp, 0)
	frag[6] = 0x20 // more fragments
	badDoff := ipv4Packet(5, tcpHeader(1, 2, 3, 4, ACK, 5, 4), 0)
	longDoff := ipv4Packet(5, tcp, 0)
	longDoff[20+12] = 15 << 4 // 60-byte header in a 20-byte payload
	ext := ipv6Packet(tcp, 0)
	ext[6] = 0 // hop-by-hop
	for name, b := range map[string][]byte{
		"empty":          {},
		"IPv4 cut":       ipv4Packet(5, tcp, 0)[:19],
		"TCP cut":        ipv4Packet(5, tcp, 0)[:39],
		"IPv4 ihl 4":     append([]byte{0x44}, make([]byte, 39)...),
		"UDP":            udp,
		"fragment":       frag,
		"TCP doff 4":     badDoff,
		"TCP doff > len": longDoff,
		"IPv6 cut":       ipv6Packet(tcp, 0)[:39],
		"IPv6 extension": ext,
		"IP version 5":   append([]byte{0x50}, make([]byte, 59)...),
	} {
		var s Segment
		if err := decode(b, len(b), &s); !errors.Is(err, errNotTCP) {
			t.Errorf("%s: %v, want errNotTCP", name, err)
		}
	}
}

// BenchmarkDecode is the cost of one segment's headers, as the filter
// hands them over.
func BenchmarkDecode(b *testing.B) {
	for _, tc := range []struct {
		name string
		pkt  []byte
	}{
		{"ipv4", ipv4Packet(5, tcpHeader(40112, 5000, 1000, 2000, PSH|ACK, 512, 8), 5)},
		{"ipv6", ipv6Packet(tcpHeader(40112, 5000, 1000, 2000, PSH|ACK, 512, 8), 5)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var s Segment
			b.ReportAllocs()
			for b.Loop() {
				if err := decode(tc.pkt, len(tc.pkt)+5, &s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
