package collect

import (
	"bufio"
	"bytes"
	"strconv"
)

// sockstatCount estimates how many TCP and UDP sockets a dump will return,
// from the text of /proc/net/sockstat and /proc/net/sockstat6: TCP and
// TCP6 "inuse", TCP "tw" (TIME_WAIT sockets are not in inuse) and UDP and
// UDP6 "inuse". A fresh process has no previous snapshot to size its
// slice from, and growing a large table's slice by doubling copies it
// over and over, at more cost than formatting the whole table.
func sockstatCount(v4, v6 []byte) int {
	total := 0
	for _, text := range [][]byte{v4, v6} {
		sc := bufio.NewScanner(bytes.NewReader(text))
		for sc.Scan() {
			f := bytes.Fields(sc.Bytes())
			if len(f) == 0 {
				continue
			}
			switch string(f[0]) {
			case "TCP:", "TCP6:", "UDP:", "UDP6:":
			default:
				continue
			}
			// Fields come as name value pairs after the protocol.
			for i := 1; i+1 < len(f); i += 2 {
				switch string(f[i]) {
				case "inuse", "tw":
					if v, err := strconv.Atoi(string(f[i+1])); err == nil && v > 0 {
						total += v
					}
				}
			}
		}
	}
	return total
}
