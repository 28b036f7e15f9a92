package collect

import (
	"context"
	"errors"
	"net/netip"
	"testing"
)

// TestDestroyRefuses: what cannot be killed exactly is refused before the
// kernel is asked, in words.
func TestDestroyRefuses(t *testing.T) {
	tcp := Socket{Proto: TCP, Family: 4, State: StateEstablished,
		Local: netip.MustParseAddrPort("127.0.0.1:1"), Remote: netip.MustParseAddrPort("127.0.0.1:2"), Cookie: 7}
	unixSock := Socket{Proto: Unix, Path: "/run/x.sock", Cookie: 7}
	noCookie := tcp
	noCookie.Cookie = 0
	unknownCookie := tcp
	unknownCookie.Unknown = FieldCookie
	for _, tc := range []struct {
		name string
		s    Socket
		want error
	}{
		{"unix", unixSock, ErrUnsupported},
		{"no cookie", noCookie, ErrNoCookie},
		{"unknown cookie", unknownCookie, ErrNoCookie},
	} {
		err := Destroy(context.Background(), &tc.s)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Destroy(ctx, &tcp); !errors.Is(err, context.Canceled) && !errors.Is(err, ErrUnsupported) {
		t.Errorf("cancelled: %v", err)
	}
}
