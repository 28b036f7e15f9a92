package demo

import (
	"os"
	"testing"

	"socktop/probe"
)

func TestMain(m *testing.M) {
	probe.RunChildIfRequested()
	os.Exit(m.Run())
}
