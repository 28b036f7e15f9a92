package segments

// Diagram lays out the time-sequence diagram of one connection: the
// client's column on the left, the server's on the right, one arrow per
// segment (flags, relative seq and ack, length, window), each side's
// state changes beside its column, in time order, width columns wide and
// without colour. It is not written yet.
func Diagram(segs []Segment, sides Sides, width int) []string { return nil }
