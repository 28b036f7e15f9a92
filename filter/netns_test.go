package filter

import (
	"slices"
	"testing"

	"socktop/collect"
)

// netnsFixtures are sockets of several namespaces, named as collect
// names them.
var netnsFixtures = []filterFixture{
	{"host", collect.Socket{Proto: collect.TCP, State: collect.StateListen, NetNS: collect.NetNS{Inode: 4026531840, Name: "host"}}},
	{"ipnetns", collect.Socket{Proto: collect.TCP, State: collect.StateListen, NetNS: collect.NetNS{Inode: 4026532288, Name: "socktop-test-1a2b"}}},
	{"docker", collect.Socket{Proto: collect.TCP, State: collect.StateListen, NetNS: collect.NetNS{Inode: 4026532300, Name: "docker:3f4e5d6c7b8a"}}},
	{"pod", collect.Socket{Proto: collect.UDP, State: collect.StateUnconn, NetNS: collect.NetNS{Inode: 4026532400, Name: "pod:0a1b2c3d-1111-2222-3333-444455556666"}}},
	{"pid", collect.Socket{Proto: collect.UDP, State: collect.StateUnconn, NetNS: collect.NetNS{Inode: 4026532500, Name: "pid 812 sleep"}}},
	{"unnamed", collect.Socket{Proto: collect.UDP, State: collect.StateUnconn}},
}

func TestNetNSFilter(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []string
	}{
		{"netns host", []string{"host"}},
		{"netns socktop-test-1a2b", []string{"ipnetns"}},
		{"netns = socktop-test-*", []string{"ipnetns"}},
		{"netns != host", []string{"ipnetns", "docker", "pod", "pid", "unnamed"}},
		{"netns 4026532300", []string{"docker"}},
		{`netns "pid 812 sleep"`, []string{"pid"}},
		{"netns docker:3f4e5d6c7b8a", []string{"docker"}},
		{"container 3f4e5d6c7b8a", []string{"docker"}},
		{"container 3f4e", []string{"docker"}},
		{"container 3f4e5d6c7b8a9f8e7d6c5b4a3f4e5d6c7b8a9f8e7d6c5b4a3f4e5d6c7b8a9f8e", []string{"docker"}},
		{"container docker:3f4e5d6c7b8a", []string{"docker"}},
		{"container 0a1b2c3d-1111-2222-3333-444455556666", []string{"pod"}},
		{"container *", []string{"docker", "pod"}},
		{"container socktop-test-1a2b", nil},
		{"not container *", []string{"host", "ipnetns", "pid", "unnamed"}},
		{"netns host or container 3f4e", []string{"host", "docker"}},
	} {
		f, err := Parse(c.expr)
		if err != nil {
			t.Errorf("%q: %v", c.expr, err)
			continue
		}
		var got []string
		for _, x := range netnsFixtures {
			if f.Match(&x.s) {
				got = append(got, x.name)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%q keeps %v, want %v", c.expr, got, c.want)
		}
	}
	for _, bad := range []string{"netns", "container", "netns > host", "container <= 3f4e", "netns ="} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
