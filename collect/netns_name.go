package collect

import (
	"strconv"
	"strings"
)

// HostNetNSName is the name of the network namespace socktop runs in.
const HostNetNSName = "host"

// containerFromCgroup names the container a process runs in from the
// text of its /proc/PID/cgroup: "pod:UID" for a Kubernetes pod (its
// containers share one network namespace), else "docker:ID",
// "containerd:ID", "crio:ID" or "podman:ID" with the id cut to 12
// characters as docker ps prints it. It returns "" for a process in no
// container it knows.
func containerFromCgroup(cgroup string) string {
	var name string
	for line := range strings.SplitSeq(cgroup, "\n") {
		// hierarchy-ID:controllers:path; the path may hold colons.
		_, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		_, path, ok := strings.Cut(rest, ":")
		if !ok {
			continue
		}
		if n := containerFromPath(path); n != "" {
			if strings.HasPrefix(n, "pod:") {
				return n
			}
			if name == "" {
				name = n
			}
		}
	}
	return name
}

// runtimePrefixes are the systemd scope prefixes of the container
// runtimes, with the name each is reported under.
var runtimePrefixes = []struct{ prefix, runtime string }{
	{"docker-", "docker"},
	{"cri-containerd-", "containerd"},
	{"containerd-", "containerd"},
	{"nerdctl-", "containerd"},
	{"crio-conmon-", "crio"},
	{"crio-", "crio"},
	{"libpod-conmon-", "podman"},
	{"libpod-", "podman"},
}

// containerFromPath names the container of one cgroup path, or "".
func containerFromPath(path string) string {
	parts := strings.Split(path, "/")
	var rt, id string
	for i, p := range parts {
		if uid, ok := podUID(p); ok {
			return "pod:" + uid
		}
		scope := strings.TrimSuffix(p, ".scope")
		for _, r := range runtimePrefixes {
			if rest, ok := strings.CutPrefix(scope, r.prefix); ok && isContainerID(rest) {
				rt, id = r.runtime, rest
				break
			}
		}
		// The cgroupfs driver: /docker/ID, /libpod_parent/libpod-ID,
		// /system.slice/containerd.service/NAMESPACE/ID.
		if id == "" && i > 0 && isContainerID(p) {
			switch parts[i-1] {
			case "docker":
				rt, id = "docker", p
			case "crio":
				rt, id = "crio", p
			default:
				if i > 1 && parts[i-2] == "containerd.service" {
					rt, id = "containerd", p
				}
			}
		}
	}
	if id == "" {
		return ""
	}
	return rt + ":" + shortID(id)
}

// podUID finds a Kubernetes pod UID in one cgroup path element, as the
// systemd driver writes it (kubepods-besteffort-pod1234_5678.slice) or
// the cgroupfs driver (pod1234-5678).
func podUID(p string) (string, bool) {
	p = strings.TrimSuffix(p, ".slice")
	var uid string
	switch {
	case strings.HasPrefix(p, "pod"):
		uid = p[3:]
	case strings.HasPrefix(p, "kubepods-"):
		i := strings.LastIndex(p, "-pod")
		if i < 0 {
			return "", false
		}
		uid = p[i+4:]
	default:
		return "", false
	}
	if len(uid) != 36 {
		return "", false
	}
	uid = strings.ReplaceAll(uid, "_", "-")
	for _, c := range uid {
		if !isHex(c) && c != '-' {
			return "", false
		}
	}
	return uid, true
}

// isContainerID reports whether s looks like a container id: 64 hex
// digits, as every runtime here makes them.
func isContainerID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !isHex(c) {
			return false
		}
	}
	return true
}

func isHex(c rune) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' }

// shortID cuts a container id to the 12 characters docker ps shows.
func shortID(id string) string { return id[:min(12, len(id))] }

// pidName names a namespace after a process inside it.
func pidNSName(pid int, comm string) string {
	return "pid " + strconv.Itoa(pid) + " " + comm
}

// ContainerOf returns the container part of a namespace name ("docker:ID"
// gives "ID"), and false for a name that is not a container's.
func ContainerOf(name string) (string, bool) {
	rt, id, ok := strings.Cut(name, ":")
	if !ok {
		return "", false
	}
	switch rt {
	case "docker", "containerd", "crio", "podman", "pod":
		return id, true
	}
	return "", false
}
