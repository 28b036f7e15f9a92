//go:build linux

package collect

import "testing"

// TestParseNSMount reads the mountinfo lines of nsfs mounts: only the
// network namespaces', with escaped mount points undone.
func TestParseNSMount(t *testing.T) {
	for _, c := range []struct {
		line string
		ino  uint32
		path string
		ok   bool
	}{
		{"600 28 0:4 net:[4026532288] /run/netns/socktop-a rw shared:301 - nsfs nsfs rw", 4026532288, "/run/netns/socktop-a", true},
		{"601 28 0:4 net:[4026532300] /run/docker/netns/1a2b3c4d5e6f rw - nsfs nsfs rw", 4026532300, "/run/docker/netns/1a2b3c4d5e6f", true},
		{"602 28 0:4 net:[4026532301] /tmp/my\\040ns rw - nsfs nsfs rw", 4026532301, "/tmp/my ns", true},
		{"603 28 0:4 mnt:[4026532302] /tmp/mntns rw - nsfs nsfs rw", 0, "", false},
		{"24 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw", 0, "", false},
		{"garbage", 0, "", false},
	} {
		ino, path, ok := parseNSMount([]byte(c.line))
		if ino != c.ino || path != c.path || ok != c.ok {
			t.Errorf("%q: %d %q %v, want %d %q %v", c.line, ino, path, ok, c.ino, c.path, c.ok)
		}
	}
}
