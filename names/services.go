package names

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

	"socktop/collect"
	"socktop/internal/servicesfile"
)

// Services names ports as ss does: by protocol (a TCP port and a UDP port
// of one number may have different names, or only one of them a name),
// from the first entry of the services file for the pair, as
// getservbyport answers; and never a port of the ephemeral range
// (net.ipv4.ip_local_port_range), where a name would describe a client's
// random port as a service. Its zero value names nothing.
type Services struct {
	tcp, udp map[uint16]string
	// lo and hi are the ephemeral range; hi is 0 when it is not known.
	lo, hi uint16
}

// Paths ss reads the same tables from.
const (
	ServicesPath  = "/etc/services"
	portRangePath = "/proc/sys/net/ipv4/ip_local_port_range"
)

// SystemServices is this host's table, read once on first use. A missing
// services file names nothing (ports stay numeric), as for ss.
var SystemServices = sync.OnceValue(func() *Services {
	s := &Services{}
	if f, err := os.Open(ServicesPath); err == nil {
		if t, err := ParseServices(f); err == nil {
			s = t
		}
		f.Close()
	}
	if b, err := os.ReadFile(portRangePath); err == nil {
		s.SetEphemeral(parseRange(string(b)))
	}
	return s
})

// ParseServices reads the services(5) format: "name port/protocol
// [aliases...] [# comment]". Only tcp and udp entries count, and a
// malformed line is skipped, as the C library does. The error is the
// reader's.
func ParseServices(r io.Reader) (*Services, error) {
	s := &Services{tcp: map[uint16]string{}, udp: map[uint16]string{}}
	err := servicesfile.Scan(r, func(name string, _ []string, port uint16, proto string) {
		m := s.tcp
		if proto == "udp" {
			m = s.udp
		}
		if _, dup := m[port]; !dup {
			m[port] = name
		}
	})
	if err != nil {
		return nil, fmt.Errorf("names: reading services: %w", err)
	}
	return s, nil
}

// SetEphemeral sets the ephemeral port range, whose ports are never
// named; hi 0 names ports of any number.
func (s *Services) SetEphemeral(lo, hi uint16) { s.lo, s.hi = lo, hi }

// parseRange reads ip_local_port_range ("32768\t60999"); 0, 0 when it
// does not parse.
func parseRange(text string) (uint16, uint16) {
	f := strings.Fields(text)
	if len(f) != 2 {
		return 0, 0
	}
	lo, err1 := strconv.ParseUint(f[0], 10, 16)
	hi, err2 := strconv.ParseUint(f[1], 10, 16)
	if err1 != nil || err2 != nil || lo > hi {
		return 0, 0
	}
	return uint16(lo), uint16(hi)
}

// Name returns the service name of port for proto: "https" for TCP 443.
// ok is false for a port with no entry, an ephemeral port, port 0, and
// a protocol other than TCP and UDP.
func (s *Services) Name(proto collect.Proto, port uint16) (string, bool) {
	if s == nil || port == 0 || (s.hi != 0 && port >= s.lo && port <= s.hi) {
		return "", false
	}
	var m map[uint16]string
	switch proto {
	case collect.TCP:
		m = s.tcp
	case collect.UDP:
		m = s.udp
	default:
		return "", false
	}
	name, ok := m[port]
	return name, ok
}
