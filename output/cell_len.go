package output

import (
	"socktop/collect"
)

// Len returns the length of the text Append would append for column col
// of socket s in form f. It counts what it can without formatting (the
// digits of a figure, an address's text from the memo), so that fitting
// the columns of a table to its widest cells costs less than printing it.
func (cs *Cells) Len(col Column, s *collect.Socket, f Form) int {
	if fl := colDefs[col].field; fl != 0 && !s.Known(fl) {
		return 1
	}
	if s.Proto == collect.Unix || col == ColSendRate || col == ColRecvRate {
		return cs.formattedLen(col, s, f)
	}
	switch col {
	case ColProto:
		n := len(s.Proto.String())
		if s.Family == 6 && f != Narrow {
			n++
		}
		return n
	case ColState:
		return len(s.State.Canonical().String())
	case ColRecvQ:
		return decLen(uint64(s.RecvQ))
	case ColSendQ:
		return decLen(uint64(s.SendQ))
	case ColLocal:
		if cs.Names != nil {
			return cs.formattedLen(col, s, f)
		}
		if cs.cache != nil {
			return cs.cache.len(0, s.Local, s.Family)
		}
		return cs.memo[0].len(s.Local, s.Family)
	case ColForeign:
		if cs.Names != nil {
			return cs.formattedLen(col, s, f)
		}
		if cs.cache != nil {
			return cs.cache.len(1, s.Remote, s.Family)
		}
		return cs.memo[1].len(s.Remote, s.Family)
	case ColProcess:
		if len(s.Owners) == 0 {
			return 1
		}
		o := s.Owners[0]
		if o.PID < 0 {
			return cs.formattedLen(col, s, f)
		}
		n := len(o.Name) + 1 + decLen(uint64(o.PID))
		if len(s.Owners) > 1 {
			n += 2 + decLen(uint64(len(s.Owners)-1))
		}
		return n
	case ColTimer:
		if s.Timer == collect.TimerOff {
			if f == Plain {
				return len("off")
			}
			return 0
		}
	}
	return cs.formattedLen(col, s, f)
}

// formattedLen is Len by formatting the cell, for the cells whose length
// takes as long to work out as to print.
func (cs *Cells) formattedLen(col Column, s *collect.Socket, f Form) int {
	var buf [128]byte
	return len(cs.Append(buf[:0], col, s, f))
}

// decLen returns the number of decimal digits of v.
func decLen(v uint64) int {
	n := 1
	for v >= 10000 {
		v /= 10000
		n += 4
	}
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}
