package demo

import "fmt"

// netLab makes a network namespace joined by a veth pair for the steps
// (see newNetLab) and has the run close it when it stops, after its
// sockets: Stop, a failed or panicking step, the end of the run's
// context. A run killed outright leaves it for the next run to remove.
func (e *env) netLab(cfg labConfig) *netLab {
	l, err := newNetLab(cfg)
	e.ok(err)
	e.run.onStop(func() {
		if err := l.Close(); err != nil {
			e.p.Emit("demo", "ip netns delete "+l.Name(), err.Error(), err)
			return
		}
		e.say("demo", "ip netns delete "+l.Name(), "0 (the veth pair and its qdiscs are gone with it)")
	})
	what := fmt.Sprintf("veth %s %s <-> %s (inside)", l.HostLink(), l.HostAddr(), l.NSAddr())
	if r := l.RateBits(); r > 0 {
		what += fmt.Sprintf(", tbf %d Mbit/s each way", r/1_000_000)
	}
	e.say("demo", "ip netns add "+l.Name(), what)
	if cfg.PinNeighbour {
		e.say("demo", "ip neigh replace "+l.NSAddr().String()+" dev "+l.HostLink()+" nud permanent", "the host will not notice the far end is gone")
	}
	return l
}
