package ui

// What the view keeps between refreshes is bounded by the table it shows
// now. A buffer reused with [:0] keeps its capacity and, past its length,
// the pointers it held: a stale *collect.Socket there keeps the whole
// snapshot it points into alive (and with it the owner slices of that
// refresh), and when the table's length wanders the tail ends up pinning
// a different old snapshot at every position. So every reused buffer is
// cleared past its length after use, and given back once it is far larger
// than the table needs, so that a burst does not keep its memory, nor the
// collector's work of scanning it, for good.
const (
	// shrinkFactor: a buffer whose capacity is more than shrinkFactor
	// times what it holds is reallocated.
	shrinkFactor = 4
	// shrinkFloor: buffers of at most this many elements are never
	// reallocated; they cost little and small tables jitter around it.
	shrinkFloor = 1024
)

// oversized reports whether a buffer of capacity c that needs n elements
// should be reallocated.
func oversized(c, n int) bool {
	return c > shrinkFloor && c > shrinkFactor*n
}

// fitSlice returns s with nothing referenced past its length: the tail is
// cleared, or, when s is oversized, s is copied into a buffer of about
// its length.
func fitSlice[T any](s []T) []T {
	if oversized(cap(s), len(s)) {
		return append(make([]T, 0, len(s)+len(s)/4), s...)
	}
	clear(s[len(s):cap(s)])
	return s
}

// spareSlice empties a scratch buffer that is about to sit unused until
// the next refresh, which needs about n elements: all of it is cleared, or
// it is dropped when oversized.
func spareSlice[T any](s []T, n int) []T {
	if oversized(cap(s), n) {
		return nil
	}
	clear(s[:cap(s)])
	return s[:0]
}

// fitMap returns m, or a copy of it when m has held at least
// shrinkFactor times as many entries as it holds now (a Go map never gives
// back the buckets it grew to), and the peak to remember with it.
func fitMap[K comparable, V any](m map[K]V, peak int) (map[K]V, int) {
	peak = max(peak, len(m))
	if !oversized(peak, len(m)) {
		return m, peak
	}
	c := make(map[K]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c, len(c)
}
