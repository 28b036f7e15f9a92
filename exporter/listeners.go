package exporter

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"socktop/collect"
)

// listenerOwners names the processes holding the TCP listeners, for the
// process label of the listener series. It has a source of its own that
// dumps only LISTEN sockets (the kernel then walks its listening hash
// alone) with owners: collect's owner cache scans /proc only when a
// listener it has not seen appears, or when its entries are old, and
// spaces costly scans out. The passes run on a goroutine between scrapes
// (kick), so a scrape never waits for /proc; it uses the last pass's
// names.
type listenerOwners struct {
	src  collect.Source
	wake chan struct{}
	done chan struct{}
	wg   sync.WaitGroup

	mu     sync.Mutex
	byNode map[uint32]string
}

// newListenerOwners makes the listener source and starts the goroutine
// that refreshes the names when kicked.
func newListenerOwners(source string) (*listenerOwners, error) {
	src, err := collect.NewSource(source, collect.Options{
		TCP:    true,
		States: 1 << collect.StateListen,
		Owners: true,
	})
	if err != nil {
		return nil, fmt.Errorf("exporter: listener owners: %w", err)
	}
	l := &listenerOwners{src: src, wake: make(chan struct{}, 1), done: make(chan struct{})}
	l.wg.Add(1)
	go l.loop()
	return l, nil
}

func (l *listenerOwners) loop() {
	defer l.wg.Done()
	for {
		select {
		case <-l.done:
			return
		case <-l.wake:
			l.refresh(context.Background())
		}
	}
}

// kick asks for a pass; a pass already asked for absorbs it.
func (l *listenerOwners) kick() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// refresh takes a snapshot of the listeners and keeps their owners'
// names by inode. It returns the snapshot's notices, joined, or "".
func (l *listenerOwners) refresh(ctx context.Context) string {
	snap, err := l.src.Snapshot(ctx)
	if err != nil {
		// The last names stay; the labels of new listeners stay "?".
		return fmt.Sprintf("listener owners: %v", err)
	}
	m := make(map[uint32]string)
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		if s.State != collect.StateListen || s.Inode == 0 || !s.Known(collect.FieldOwners) {
			continue
		}
		m[s.Inode] = ownerNames(s.Owners)
	}
	l.mu.Lock()
	l.byNode = m
	l.mu.Unlock()
	return strings.Join(snap.Notices, "; ")
}

// names returns the last pass's names by inode; the map is not changed
// afterwards.
func (l *listenerOwners) names() map[uint32]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byNode
}

func (l *listenerOwners) close() error {
	close(l.done)
	l.wg.Wait()
	if c, ok := l.src.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// ownerNames is the process label of a socket's owners: their distinct
// names, sorted, joined by commas; "" when nobody holds it.
func ownerNames(os []collect.Owner) string {
	names := make([]string, 0, len(os))
	for _, o := range os {
		names = append(names, o.Name)
	}
	slices.Sort(names)
	return strings.Join(slices.Compact(names), ",")
}
