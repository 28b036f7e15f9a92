package collect

import "testing"

// TestContainerFromCgroup names containers from /proc/PID/cgroup as each
// runtime and cgroup driver writes it.
func TestContainerFromCgroup(t *testing.T) {
	const id = "3f4e5d6c7b8a9f8e7d6c5b4a3f4e5d6c7b8a9f8e7d6c5b4a3f4e5d6c7b8a9f8e"
	for _, c := range []struct{ cgroup, want string }{
		{"0::/system.slice/docker-" + id + ".scope\n", "docker:3f4e5d6c7b8a"},
		{"12:pids:/docker/" + id + "\n11:cpu,cpuacct:/docker/" + id + "\n", "docker:3f4e5d6c7b8a"},
		{"0::/system.slice/cri-containerd-" + id + ".scope\n", "containerd:3f4e5d6c7b8a"},
		{"0::/system.slice/containerd.service/default/" + id + "\n", "containerd:3f4e5d6c7b8a"},
		{"0::/machine.slice/crio-" + id + ".scope\n", "crio:3f4e5d6c7b8a"},
		{"0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + id + ".scope/container\n", "podman:3f4e5d6c7b8a"},
		{"0::/machine.slice/libpod-conmon-" + id + ".scope\n", "podman:3f4e5d6c7b8a"},
		{"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0a1b2c3d_1111_2222_3333_444455556666.slice/cri-containerd-" + id + ".scope\n",
			"pod:0a1b2c3d-1111-2222-3333-444455556666"},
		{"11:memory:/kubepods/burstable/pod0a1b2c3d-1111-2222-3333-444455556666/" + id + "\n", "pod:0a1b2c3d-1111-2222-3333-444455556666"},
		{"0::/user.slice/user-0.slice/session-3.scope\n", ""},
		{"0::/system.slice/docker.service\n", ""},
		{"0::/system.slice/docker-abc.scope\n", ""}, // not a container id
		{"0::/\n", ""},
		{"", ""},
	} {
		if got := containerFromCgroup(c.cgroup); got != c.want {
			t.Errorf("%q: %q, want %q", c.cgroup, got, c.want)
		}
	}
}

func TestContainerOf(t *testing.T) {
	for _, c := range []struct {
		name, id string
		ok       bool
	}{
		{"docker:3f4e5d6c7b8a", "3f4e5d6c7b8a", true},
		{"pod:0a1b", "0a1b", true},
		{"host", "", false},
		{"pid 1 init", "", false},
		{"/run/x:y", "", false},
	} {
		if id, ok := ContainerOf(c.name); id != c.id || ok != c.ok {
			t.Errorf("%q: %q %v, want %q %v", c.name, id, ok, c.id, c.ok)
		}
	}
}
