package main

import (
	"strings"
	"testing"
)

// Every --events value opens a stream of its mode, or, for a reader that
// cannot run here, fails with an error that names the flag and says why;
// sampled always opens.
func TestOpenEventsModes(t *testing.T) {
	for _, name := range eventsNames {
		st, err := openEvents(name)
		if err != nil {
			if name == "auto" || name == "sampled" {
				t.Fatalf("--events %s: %v; it never fails for lack of privilege", name, err)
			}
			if !strings.Contains(err.Error(), "--events "+name+": events: "+name+":") {
				t.Errorf("--events %s: %v; want the flag and the reader's error named", name, err)
			}
			continue
		}
		want, _ := eventsMode(name)
		if got := st.Mode(); want != "" && got != want {
			t.Errorf("--events %s: mode %q", name, got)
		}
		if err := st.Close(); err != nil {
			t.Errorf("--events %s: Close: %v", name, err)
		}
	}
	if _, err := openEvents("kernel"); err == nil {
		t.Error("--events kernel opened a stream")
	}
}
