package names

import (
	"os"
	"strings"
	"testing"

	"socktop/collect"
)

const servicesFixture = `# comment
http		80/tcp		www		# WorldWideWeb HTTP
https		443/tcp
https		443/udp
domain		53/tcp
domain		53/udp
webcache	8080/tcp
http-alt	8080/tcp
bad		x/tcp
sctponly	9/sctp
eph		40000/tcp
`

// Names are per protocol, the first entry of a port wins (as
// getservbyport answers), and the ephemeral range is never named, as ss
// does not name it.
func TestServicesName(t *testing.T) {
	s, err := ParseServices(strings.NewReader(servicesFixture))
	if err != nil {
		t.Fatal(err)
	}
	s.SetEphemeral(32768, 60999)
	for _, c := range []struct {
		p    collect.Proto
		port uint16
		want string
	}{
		{collect.TCP, 80, "http"}, {collect.UDP, 80, ""},
		{collect.TCP, 443, "https"}, {collect.UDP, 443, "https"},
		{collect.TCP, 8080, "webcache"}, {collect.TCP, 9, ""},
		{collect.TCP, 40000, ""}, {collect.TCP, 0, ""}, {collect.Unix, 80, ""},
	} {
		if got, _ := s.Name(c.p, c.port); got != c.want {
			t.Errorf("Name(%v, %d) = %q, want %q", c.p, c.port, got, c.want)
		}
	}
	s.SetEphemeral(0, 0)
	if got, _ := s.Name(collect.TCP, 40000); got != "eph" {
		t.Errorf("without a range, 40000 = %q", got)
	}
	var none *Services
	if _, ok := none.Name(collect.TCP, 80); ok {
		t.Error("a nil table names a port")
	}
}

// The host's table reads the real files: ss's range and a name ss knows.
func TestSystemServices(t *testing.T) {
	b, err := os.ReadFile(portRangePath)
	if err != nil {
		t.Skipf("no %s: %v", portRangePath, err)
	}
	s := SystemServices()
	lo, hi := parseRange(string(b))
	if s.lo != lo || s.hi != hi || hi == 0 {
		t.Errorf("ephemeral range %d-%d, want %d-%d from %s", s.lo, s.hi, lo, hi, portRangePath)
	}
	if _, err := os.Stat(ServicesPath); err != nil {
		t.Skipf("no %s", ServicesPath)
	}
	if len(s.tcp) == 0 {
		t.Errorf("%s named no TCP port", ServicesPath)
	}
}
