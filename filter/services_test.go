package filter

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// servicesFixture is testdata/services, parsed.
func servicesFixture(t *testing.T) map[string]servicePorts {
	t.Helper()
	f, err := os.Open("testdata/services")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := parseServices(f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParseServicesFixture(t *testing.T) {
	m := servicesFixture(t)
	want := map[string]servicePorts{
		"tcpmux": {tcp: 1}, "echo": {tcp: 7, udp: 7}, "discard": {tcp: 9, udp: 9},
		"sink": {tcp: 9, udp: 9}, "null": {tcp: 9, udp: 9}, "ssh": {tcp: 22},
		"smtp": {tcp: 25}, "mail": {tcp: 25}, "domain": {tcp: 53, udp: 53},
		"http": {tcp: 80}, "www": {tcp: 80}, "https": {tcp: 443, udp: 443},
		"ntp": {udp: 123}, "syslog": {udp: 514}, "splitport": {tcp: 5000, udp: 5001},
		"first": {tcp: 6000}, "indented": {tcp: 8000}, "alias-a": {tcp: 8000}, "alias-b": {tcp: 8000},
	}
	for name, sp := range want {
		if m[name] != sp {
			t.Errorf("%s: %+v, want %+v", name, m[name], sp)
		}
	}
	for name := range m {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected entry %q: %+v", name, m[name])
		}
	}
}

func TestLookupService(t *testing.T) {
	m := servicesFixture(t)
	for name, want := range map[string]int{"ssh": 22, "SSH": 22, "www": 80, "ntp": 123, "https": 443, "first": 6000} {
		if got, msg := lookupService(m, name); got != want || msg != "" {
			t.Errorf("lookupService(%q) = %d, %q; want %d", name, got, msg, want)
		}
	}
	for name, msg := range map[string]string{
		"splitport": `ambiguous service "splitport": tcp port 5000, udp port 5001`,
		"gopher":    `unknown service "gopher"`,
		"broken":    `unknown service "broken"`,
	} {
		if got, m := lookupService(m, name); !strings.Contains(m, msg) {
			t.Errorf("lookupService(%q) = %d, %q; want an error with %q", name, got, m, msg)
		}
	}
}

// Without a services file (a minimal container) the common names still
// resolve, from the built-in table; an empty file counts as missing.
func TestLoadServicesFallsBack(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "services")
	if err := os.WriteFile(empty, []byte("# nothing\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(dir, "missing"), empty} {
		m := loadServices(path)
		for name, want := range map[string]int{"ssh": 22, "http": 80, "https": 443, "domain": 53, "ntp": 123} {
			if got, msg := lookupService(m, name); got != want {
				t.Errorf("%s: %s = %d (%s), want %d", path, name, got, msg, want)
			}
		}
	}
	if m := loadServices("testdata/services"); m["splitport"].udp != 5001 {
		t.Errorf("a readable services file was not used")
	}
}

// Service names go wherever a port does, and mean that port.
func TestFilterServiceNames(t *testing.T) {
	for _, c := range [][2]string{
		{"sport = :ssh", "sport = :22"},
		{"sport == :ssh", "sport = :22"},
		{"dport = :http", "dport = :80"},
		{":https", ":443"},
		{"port ssh", "port 22"},
		{"port != ssh", "port != 22"},
		{"sport >= :ssh", "sport >= :22"},
		{"src *:ssh", "src *:22"},
		{"src 127.0.0.1:ssh", "src 127.0.0.1:22"},
		{"dst [::1]:http", "dst [::1]:80"},
		{"sport = :SSH", "sport = :22"},
	} {
		named, err := Parse(c[0])
		if err != nil {
			t.Errorf("Parse(%q): %v", c[0], err)
			continue
		}
		numbered, err := Parse(c[1])
		if err != nil {
			t.Fatal(err)
		}
		got, want := filterMatching(t, named), filterMatching(t, numbered)
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%q keeps %v, %q keeps %v", c[0], got, c[1], want)
		}
	}
	// The ssh fixtures are the ones with local port 22.
	f, err := Parse("sport = :ssh")
	if err != nil {
		t.Fatal(err)
	}
	if got := filterMatching(t, f); strings.Join(got, " ") != "listen4 ssh4" {
		t.Errorf("sport = :ssh keeps %v, want [listen4 ssh4]", got)
	}
}
