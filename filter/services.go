package filter

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"socktop/internal/servicesfile"
)

// servicePorts are the ports of one service name; 0 where the services
// file has no entry for that protocol.
type servicePorts struct {
	tcp, udp uint16
}

// servicesPath is where service names are read from, as ss (through
// getservbyname) reads them.
const servicesPath = "/etc/services"

// builtinServices answers when the services file is missing (a minimal
// container): the names people type in a filter, with the ports of the
// IANA registry.
var builtinServices = map[string]servicePorts{
	"ftp-data": {tcp: 20}, "ftp": {tcp: 21}, "ssh": {tcp: 22, udp: 22},
	"telnet": {tcp: 23}, "smtp": {tcp: 25}, "domain": {tcp: 53, udp: 53},
	"bootps": {udp: 67}, "bootpc": {udp: 68}, "tftp": {udp: 69},
	"http": {tcp: 80, udp: 80}, "www": {tcp: 80, udp: 80}, "kerberos": {tcp: 88, udp: 88},
	"pop3": {tcp: 110}, "sunrpc": {tcp: 111, udp: 111}, "ntp": {udp: 123},
	"imap2": {tcp: 143}, "imap": {tcp: 143}, "snmp": {tcp: 161, udp: 161},
	"ldap": {tcp: 389, udp: 389}, "https": {tcp: 443, udp: 443},
	"microsoft-ds": {tcp: 445}, "submissions": {tcp: 465}, "syslog": {udp: 514},
	"submission": {tcp: 587}, "ldaps": {tcp: 636, udp: 636}, "rsync": {tcp: 873},
	"imaps": {tcp: 993}, "pop3s": {tcp: 995}, "openvpn": {tcp: 1194, udp: 1194},
	"mysql": {tcp: 3306}, "postgresql": {tcp: 5432}, "mdns": {udp: 5353},
	"x11": {tcp: 6000}, "http-alt": {tcp: 8080, udp: 8080},
}

// services is the table filters resolve names with, read once, when a
// filter first names a service.
var services = sync.OnceValue(func() map[string]servicePorts {
	return loadServices(servicesPath)
})

// loadServices reads the services file at path, or gives the built-in
// table when it cannot be read or names nothing.
func loadServices(path string) map[string]servicePorts {
	f, err := os.Open(path)
	if err != nil {
		return builtinServices
	}
	defer f.Close()
	m, err := parseServices(f)
	if err != nil || len(m) == 0 {
		return builtinServices
	}
	return m
}

// parseServices reads the services(5) format: "name port/protocol
// [aliases...] [# comment]". Only tcp and udp entries count; a malformed
// line is skipped, as the C library does, and the first entry of a name
// wins. The error is the reader's.
func parseServices(r io.Reader) (map[string]servicePorts, error) {
	m := map[string]servicePorts{}
	err := servicesfile.Scan(r, func(official string, aliases []string, port uint16, proto string) {
		for _, name := range append([]string{official}, aliases...) {
			sp := m[name]
			switch {
			case proto == "tcp" && sp.tcp == 0:
				sp.tcp = port
			case proto == "udp" && sp.udp == 0:
				sp.udp = port
			default:
				continue
			}
			m[name] = sp
		}
	})
	if err != nil {
		return nil, fmt.Errorf("filter: reading services: %w", err)
	}
	return m, nil
}

// isServiceName reports a word that can only be a service name, not a
// mistyped number: it starts with a letter.
func isServiceName(s string) bool {
	return s != "" && (s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z')
}

// lookupService gives the port of a service name in table, for TCP and
// UDP alike, as ss does: a name whose TCP and UDP ports differ is
// ambiguous. The name is matched as written, then in lower case. The
// error text goes into an Error.
func lookupService(table map[string]servicePorts, name string) (int, string) {
	sp, ok := table[name]
	if !ok {
		sp, ok = table[strings.ToLower(name)]
	}
	switch {
	case !ok:
		return 0, fmt.Sprintf("unknown service %q (expected a port number or a name from %s)", name, servicesPath)
	case sp.tcp != 0 && sp.udp != 0 && sp.tcp != sp.udp:
		return 0, fmt.Sprintf("ambiguous service %q: tcp port %d, udp port %d", name, sp.tcp, sp.udp)
	case sp.tcp != 0:
		return int(sp.tcp), ""
	}
	return int(sp.udp), ""
}
