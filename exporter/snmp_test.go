package exporter

import "testing"

// The field is found by its name in the header line, wherever it is.
func TestParseSNMPField(t *testing.T) {
	snmp := []byte("Ip: Forwarding DefaultTTL\nIp: 1 64\n" +
		"Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors\n" +
		"Tcp: 1 200 120000 -1 5071 2441 166 90 12 802393 812011 1843 0 411 0\n" +
		"Udp: InDatagrams\nUdp: 7\n")
	if v, ok := parseSNMPField(snmp, "Tcp:", "RetransSegs"); !ok || v != 1843 {
		t.Errorf("RetransSegs = %d, %v; want 1843", v, ok)
	}
	if _, ok := parseSNMPField(snmp, "Tcp:", "NoSuchField"); ok {
		t.Error("a field the header does not name was found")
	}
	if _, ok := parseSNMPField([]byte("Tcp: RetransSegs\n"), "Tcp:", "RetransSegs"); ok {
		t.Error("a header without its values line gave a value")
	}
}
