//go:build !linux

package collect

import "errors"

// CgroupPath returns the path of the cgroup v2 whose id is id; there are
// no cgroups here, so it always reports false.
func CgroupPath(id uint64) (string, bool) { return "", false }

// CgroupID returns the id of the cgroup v2 at path; there are no cgroups
// here, so it always fails.
func CgroupID(path string) (uint64, error) {
	return 0, errors.New("cgroups are Linux's")
}
