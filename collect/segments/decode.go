package segments

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// errNotTCP is decode's answer for a packet that is not an unfragmented
// TCP segment over IPv4 or IPv6.
var errNotTCP = errors.New("not a TCP segment")

// decode fills s from a packet that begins at its IP header. b may be cut
// short (the filter keeps only the headers); wire is the packet's length
// as it was, which stands in for an IP length field of 0 (a GSO packet
// over 64 KiB). s.Time is left alone.
func decode(b []byte, wire int, s *Segment) error {
	if len(b) < 1 {
		return fmt.Errorf("empty packet: %w", errNotTCP)
	}
	var (
		tcp   []byte
		total int // the IP payload: TCP header and data
	)
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return fmt.Errorf("IPv4 header cut at %d bytes: %w", len(b), errNotTCP)
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl {
			return fmt.Errorf("IPv4 header length %d in %d bytes: %w", ihl, len(b), errNotTCP)
		}
		if b[9] != 6 {
			return fmt.Errorf("IPv4 protocol %d: %w", b[9], errNotTCP)
		}
		if binary.BigEndian.Uint16(b[6:8])&0x3fff != 0 {
			return fmt.Errorf("IPv4 fragment: %w", errNotTCP)
		}
		tot := int(binary.BigEndian.Uint16(b[2:4]))
		if tot == 0 {
			tot = wire
		}
		total = tot - ihl
		s.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[12:16])), 0)
		s.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[16:20])), 0)
		tcp = b[ihl:]
	case 6:
		if len(b) < 40 {
			return fmt.Errorf("IPv6 header cut at %d bytes: %w", len(b), errNotTCP)
		}
		if b[6] != 6 {
			return fmt.Errorf("IPv6 next header %d: %w", b[6], errNotTCP)
		}
		total = int(binary.BigEndian.Uint16(b[4:6]))
		if total == 0 {
			total = wire - 40
		}
		s.Src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])), 0)
		s.Dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[24:40])), 0)
		tcp = b[40:]
	default:
		return fmt.Errorf("IP version %d: %w", b[0]>>4, errNotTCP)
	}
	if len(tcp) < 20 {
		return fmt.Errorf("TCP header cut at %d bytes: %w", len(tcp), errNotTCP)
	}
	doff := int(tcp[12]>>4) * 4
	if doff < 20 || doff > total {
		return fmt.Errorf("TCP header length %d in an IP payload of %d: %w", doff, total, errNotTCP)
	}
	s.Src = netip.AddrPortFrom(s.Src.Addr(), binary.BigEndian.Uint16(tcp[0:2]))
	s.Dst = netip.AddrPortFrom(s.Dst.Addr(), binary.BigEndian.Uint16(tcp[2:4]))
	s.Seq = binary.BigEndian.Uint32(tcp[4:8])
	s.Ack = binary.BigEndian.Uint32(tcp[8:12])
	s.Flags = Flags(tcp[13]) // the header's bit order is Flags'
	s.Win = binary.BigEndian.Uint16(tcp[14:16])
	s.Len = total - doff
	return nil
}
