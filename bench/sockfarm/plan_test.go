package main

import (
	"errors"
	"testing"
)

func TestMakePlanIsExact(t *testing.T) {
	for _, tc := range []struct {
		n       int
		tw      float64
		fdLimit int
		minProc int
	}{
		{200, 0.3, 1 << 20, 1},
		{201, 0.3, 1 << 20, 1},
		{1000, 0, 1 << 20, 1},
		{100000, 0.3, 1 << 20, 1},
		{100000, 0.3, 20000, 4},
		{100001, 0.5, 20000, 3},
		{200, 0.3, 250, 2},
		{10, 0.3, 1 << 20, 1},
	} {
		p, err := makePlan(tc.n, tc.tw, tc.fdLimit)
		if err != nil {
			t.Errorf("makePlan(%d, %v, %d): %v", tc.n, tc.tw, tc.fdLimit, err)
			continue
		}
		if p.total() != tc.n {
			t.Errorf("makePlan(%d, %v, %d) holds %d sockets", tc.n, tc.tw, tc.fdLimit, p.total())
		}
		if len(p.Shards) < tc.minProc {
			t.Errorf("makePlan(%d, %v, %d) uses %d processes, want at least %d", tc.n, tc.tw, tc.fdLimit, len(p.Shards), tc.minProc)
		}
		for i, s := range p.Shards {
			if s.fds() > tc.fdLimit-fdReserve {
				t.Errorf("makePlan(%d, %v, %d): shard %d needs %d descriptors", tc.n, tc.tw, tc.fdLimit, i, s.fds())
			}
			if i > 0 && s.TW4+s.TW6 != 0 {
				t.Errorf("child shard %d has TIME_WAIT work", i)
			}
		}
		if tw := p.Shards[0].TW4 + p.Shards[0].TW6; float64(tw) < tc.tw*float64(tc.n)-1 || float64(tw) > tc.tw*float64(tc.n)+1 {
			t.Errorf("makePlan(%d, %v): %d TIME_WAIT", tc.n, tc.tw, tw)
		}
	}
}

func TestMakePlanRejects(t *testing.T) {
	for _, tc := range []struct {
		n       int
		tw      float64
		fdLimit int
	}{
		{3, 0.3, 1 << 20},
		{100, 1, 1 << 20},
		{100, -0.1, 1 << 20},
		{100, 0.3, 100},
	} {
		if _, err := makePlan(tc.n, tc.tw, tc.fdLimit); !errors.Is(err, errPlan) {
			t.Errorf("makePlan(%d, %v, %d) = %v, want errPlan", tc.n, tc.tw, tc.fdLimit, err)
		}
	}
}
