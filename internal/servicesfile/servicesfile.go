// Package servicesfile reads the services(5) format, for the filter
// (names to ports: sport = :http) and the display (ports to names).
package servicesfile

import (
	"bufio"
	"io"
	"strconv"
	"strings"
)

// Scan calls f for every tcp or udp entry of r, in file order: its
// official name, its aliases, its port and its protocol ("tcp" or
// "udp"). A malformed line, or one of another protocol, is skipped, as
// the C library does. The error is the reader's.
func Scan(r io.Reader, f func(name string, aliases []string, port uint16, proto string)) error {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fs := strings.Fields(line)
		if len(fs) < 2 {
			continue
		}
		num, proto, ok := strings.Cut(fs[1], "/")
		if !ok || proto != "tcp" && proto != "udp" {
			continue
		}
		p, err := strconv.ParseUint(num, 10, 16)
		if err != nil || p == 0 {
			continue
		}
		f(fs[0], fs[2:], uint16(p), proto)
	}
	return sc.Err()
}
