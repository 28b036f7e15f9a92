package exporter

import (
	"bytes"
	"os"
	"strconv"
)

// snmpPath is the kernel's SNMP counters of socktop's network namespace.
const snmpPath = "/proc/net/snmp"

// readRetransSegs returns the Tcp RetransSegs counter of /proc/net/snmp,
// and false where the file or the field cannot be read (not Linux).
func readRetransSegs() (uint64, bool) {
	b, err := os.ReadFile(snmpPath)
	if err != nil {
		return 0, false
	}
	return parseSNMPField(b, "Tcp:", "RetransSegs")
}

// parseSNMPField finds field in the two lines of /proc/net/snmp that
// start with prefix: the first names the fields, the second has their
// values.
func parseSNMPField(b []byte, prefix, field string) (uint64, bool) {
	var names [][]byte
	for line := range bytes.Lines(b) {
		if !bytes.HasPrefix(line, []byte(prefix)) {
			continue
		}
		f := bytes.Fields(line[len(prefix):])
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if string(n) == field && i < len(f) {
				v, err := strconv.ParseUint(string(f[i]), 10, 64)
				return v, err == nil
			}
		}
		return 0, false
	}
	return 0, false
}
