//go:build linux

package collect

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
)

// TestParseClosedCaptured parses a destroy datagram captured on this
// machine (x86-64, kernel 6.18): the client end of a loopback connection
// from 127.77.77.77:60383 to 127.77.77.77:45087 that sent 1000 bytes,
// received 200, and closed first.
func TestParseClosedCaptured(t *testing.T) {
	raw, err := os.ReadFile("testdata/closed_tcp4.hex")
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	var got []Closed
	if err := walkClosed(b, func(c Closed) bool { got = append(got, c); return true }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d records, want 1", len(got))
	}
	c := got[0]
	want := Closed{
		Proto: TCP, Family: 4, State: StateClosed,
		Local:  netip.MustParseAddrPort("127.77.77.77:60383"),
		Remote: netip.MustParseAddrPort("127.77.77.77:45087"),
		Cookie: 0x27db27,
	}
	info := c.Info
	c.Info = nil
	if c != want {
		t.Errorf("record %+v, want %+v", c, want)
	}
	// Sequence space: the SYN and the FIN on top of the data sent, the
	// peer's FIN on top of the data received (see TestClosedWatcherTCP).
	if info == nil || info.BytesAcked != 1002 || info.BytesReceived != 201 || info.TotalRetrans != 0 {
		t.Errorf("tcp_info %+v, want bytes_acked 1002, bytes_received 201, no retransmits", info)
	}

	// Cut short, each part fails with an error, never a half-read record.
	for _, cut := range []int{nlmsgHdrLen + inetDiagMsgLen - 1, nlmsgHdrLen + inetDiagMsgLen} {
		short := append([]byte(nil), b[:cut]...)
		binary.NativeEndian.PutUint32(short, uint32(cut))
		err := walkClosed(short, func(c Closed) bool { t.Errorf("cut at %d: record %+v", cut, c); return true })
		if err == nil {
			t.Errorf("cut at %d: no error", cut)
		}
		if cut == nlmsgHdrLen+inetDiagMsgLen && !errors.Is(err, errNoProtocol) {
			t.Errorf("cut at %d: %v, want the missing protocol", cut, err)
		}
	}
	if err := walkClosed(b[:len(b)-1], func(Closed) bool { return true }); err == nil {
		t.Error("a datagram shorter than its header's length: no error")
	}
}
