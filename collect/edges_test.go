package collect

import "testing"

func TestIsEdge(t *testing.T) {
	steps := map[[2]State]bool{
		{StateClosed, StateListen}:         true,
		{StateClosed, StateSynSent}:        true,
		{StateListen, StateSynRecv}:        true,
		{StateListen, StateSynSent}:        true,
		{StateSynSent, StateSynRecv}:       true,
		{StateSynSent, StateEstablished}:   true,
		{StateSynRecv, StateEstablished}:   true,
		{StateSynRecv, StateFinWait1}:      true,
		{StateSynRecv, StateListen}:        true,
		{StateEstablished, StateFinWait1}:  true,
		{StateEstablished, StateCloseWait}: true,
		{StateFinWait1, StateFinWait2}:     true,
		{StateFinWait1, StateClosing}:      true,
		{StateFinWait1, StateTimeWait}:     true,
		{StateFinWait2, StateTimeWait}:     true,
		{StateClosing, StateTimeWait}:      true,
		{StateCloseWait, StateLastAck}:     true,
		{StateLastAck, StateClosed}:        true,
		{StateTimeWait, StateClosed}:       true,
		{StateSynSent, StateClosed}:        true,
		{StateEstablished, StateClosed}:    true, // RST
		// Aliases count as what they are shown as.
		{StateListen, StateNewSynRecv}:      true,
		{StateBoundInactive, StateListen}:   true,
		{StateNewSynRecv, StateEstablished}: true,
	}
	tcp := []State{StateClosed, StateListen, StateSynSent, StateSynRecv, StateEstablished, StateFinWait1,
		StateFinWait2, StateCloseWait, StateClosing, StateLastAck, StateTimeWait}
	for _, from := range tcp {
		for _, to := range tcp {
			want := steps[[2]State{from, to}] || (to == StateClosed && from != StateClosed)
			if got := IsEdge(from, to); got != want {
				t.Errorf("IsEdge(%v, %v) = %v, want %v", from, to, got, want)
			}
		}
	}
	for k, want := range steps {
		if got := IsEdge(k[0], k[1]); got != want {
			t.Errorf("IsEdge(%v, %v) = %v, want %v", k[0], k[1], got, want)
		}
	}
	// The jumps a refresh typically hides.
	for _, j := range [][2]State{
		{StateEstablished, StateTimeWait}, {StateEstablished, StateFinWait2},
		{StateSynSent, StateCloseWait}, {StateCloseWait, StateClosing}, {StateFinWait2, StateClosing},
	} {
		if IsEdge(j[0], j[1]) {
			t.Errorf("IsEdge(%v, %v) = true, want a jump", j[0], j[1])
		}
	}
	// Appearing and going are not edges, nor is standing still.
	for _, s := range tcp {
		if IsEdge(StateUnknown, s) || IsEdge(s, StateUnknown) || IsEdge(s, s) {
			t.Errorf("%v: appear, gone or self counted as an edge", s)
		}
	}
	if IsEdge(State(200), StateClosed) || IsEdge(StateUnconn, StateClosed) {
		t.Error("a state off the TCP diagram counted as an edge")
	}
}
