//go:build !linux

package collect

import "github.com/shirou/gopsutil/v4/process"

// processName asks gopsutil for the command name of pid; "" when the
// process is gone or not ours to read.
func processName(pid int32) string {
	p, err := process.NewProcess(pid)
	if err != nil {
		return ""
	}
	name, err := p.Name()
	if err != nil {
		return ""
	}
	return name
}
