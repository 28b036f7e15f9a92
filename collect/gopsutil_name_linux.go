package collect

import (
	"os"
	"strconv"
	"strings"
)

// processName reads the command name of pid, as ps and ss show it, from
// /proc directly: one read, where gopsutil's process package would parse
// several files.
func processName(pid int32) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/comm")
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(b), "\n")
}
