package output

import (
	"strconv"
	"time"

	"socktop/collect"
)

// AppendInfo appends a TCP socket's tcp_info internals in the key:value
// form of ss -i: "rtt:0.031/0.015 cwnd:10 retrans:0/2 bytes_acked:1201
// bytes_received:5320", rtt and its variance in milliseconds, retrans the
// retransmits of the segment in flight over the connection's total. With
// rates, the throughput since the previous snapshot follows in decimal
// bytes per second, "send_rate:2.00MB/s recv_rate:512B/s", or "?" while
// unknown. A socket without tcp_info appends nothing.
func AppendInfo(b []byte, s *collect.Socket, rates bool) []byte {
	ti := s.Info
	if ti == nil {
		return b
	}
	b = append(b, "rtt:"...)
	b = appendMillis(b, ti.RTT)
	b = append(b, '/')
	b = appendMillis(b, ti.RTTVar)
	b = append(b, " cwnd:"...)
	b = strconv.AppendUint(b, uint64(ti.Cwnd), 10)
	b = append(b, " retrans:"...)
	b = strconv.AppendUint(b, uint64(ti.Retransmits), 10)
	b = append(b, '/')
	b = strconv.AppendUint(b, uint64(ti.TotalRetrans), 10)
	b = append(b, " bytes_acked:"...)
	b = strconv.AppendUint(b, ti.BytesAcked, 10)
	b = append(b, " bytes_received:"...)
	b = strconv.AppendUint(b, ti.BytesReceived, 10)
	if !rates {
		return b
	}
	b = append(b, " send_rate:"...)
	if s.Rate == nil {
		b = append(b, '?')
	} else {
		b = append(AppendRate(b, s.Rate.Send), "/s"...)
	}
	b = append(b, " recv_rate:"...)
	if s.Rate == nil {
		return append(b, '?')
	}
	return append(AppendRate(b, s.Rate.Recv), "/s"...)
}

// appendMillis appends d in milliseconds with three decimals, as ss
// prints rtt.
func appendMillis(b []byte, d time.Duration) []byte {
	return strconv.AppendFloat(b, float64(d)/float64(time.Millisecond), 'f', 3, 64)
}
