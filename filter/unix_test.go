package filter

import (
	"errors"
	"testing"

	"socktop/collect"
)

func TestFnmatch(t *testing.T) {
	for _, c := range []struct {
		pattern, name string
		want          bool
	}{
		{"/run/*", "/run/docker.sock", true},
		{"/run/*", "/run/user/1000/bus", true}, // "*" crosses "/", as fnmatch without FNM_PATHNAME
		{"/run/*.sock", "/run/a/b.sock", true},
		{"/run/*.sock", "/run/a/b.sockx", false},
		{"*", "", true},
		{"?", "", false},
		{"/tmp/?.sock", "/tmp/a.sock", true},
		{"/tmp/?.sock", "/tmp/ab.sock", false},
		{"/tmp/[a-c].sock", "/tmp/b.sock", true},
		{"/tmp/[a-c].sock", "/tmp/d.sock", false},
		{"/tmp/[^a-c].sock", "/tmp/d.sock", true},
		{"/tmp/[!a-c].sock", "/tmp/a.sock", false},
		{"/tmp/[]x].sock", "/tmp/].sock", true},
		{"/tmp/[\\]].sock", "/tmp/].sock", true},
		{"/tmp/\\*.sock", "/tmp/*.sock", true},
		{"/tmp/\\*.sock", "/tmp/a.sock", false},
		{"@socktop-*", "@socktop-test-1", true},
		{"@socktop-*", "socktop-test-1", false},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{"/x\\", "/x\\", true},
		{"/x[", "/x[", true}, // fnmatch takes an unclosed "[" literally (Parse refuses it)
	} {
		if got := fnmatch(c.pattern, c.name); got != c.want {
			t.Errorf("fnmatch(%q, %q) = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
}

func TestUnixAndPathFilters(t *testing.T) {
	socks := map[string]collect.Socket{
		"docker": {Proto: collect.Unix, State: collect.StateListen, Path: "/run/docker.sock", Inode: 10},
		"accept": {Proto: collect.Unix, State: collect.StateEstablished, Path: "/run/docker.sock", Inode: 11, PeerInode: 12},
		"client": {Proto: collect.Unix, State: collect.StateEstablished, Inode: 12, PeerInode: 11},
		"bus":    {Proto: collect.Unix, State: collect.StateListen, Path: "@/tmp/dbus-x", Inode: 13},
		"tcp":    {Proto: collect.TCP, Family: 4, State: collect.StateListen, Local: mustAP("0.0.0.0:80")},
	}
	for _, c := range []struct {
		expr string
		want []string
	}{
		{"unix", []string{"docker", "accept", "client", "bus"}},
		{"not unix", []string{"tcp"}},
		{"path /run/*", []string{"docker", "accept"}},
		{"path = /run/docker.sock", []string{"docker", "accept"}},
		{"path != /run/docker.sock", []string{"client", "bus", "tcp"}},
		{"path @*", []string{"bus"}},
		{"path '*'", []string{"docker", "accept", "client", "bus"}}, // an unnamed socket is ""
		{"unix and state listening", []string{"docker", "bus"}},
		{"unix or tcp", []string{"docker", "accept", "client", "bus", "tcp"}},
		{"sport = :*", []string{"tcp"}}, // a Unix socket has no port
		{"sport < :1024", []string{"tcp"}},
		{"src *", []string{"tcp"}}, // nor an address
		{"path \"/run/[d]ocker.sock\"", []string{"docker", "accept"}},
	} {
		f, err := Parse(c.expr)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.expr, err)
			continue
		}
		got := map[string]bool{}
		for name, s := range socks {
			if f.Match(&s) {
				got[name] = true
			}
		}
		want := map[string]bool{}
		for _, n := range c.want {
			want[n] = true
		}
		for name := range socks {
			if got[name] != want[name] {
				t.Errorf("%q on %s: %v, want %v", c.expr, name, got[name], want[name])
			}
		}
	}
}

func TestPathFilterErrors(t *testing.T) {
	for _, c := range []struct {
		expr string
		col  int
	}{
		{"path", 5},
		{"path <", 6},
		{"path < /x", 6},
		{"path /tmp/[ab", 11},
		{"path '/tmp/[ab'", 12},
		{"unix and path", 14},
	} {
		_, err := Parse(c.expr)
		var fe *Error
		if !errors.As(err, &fe) || !errors.Is(err, ErrBad) {
			t.Errorf("Parse(%q) = %v, want a filter error", c.expr, err)
			continue
		}
		if fe.Col != c.col {
			t.Errorf("Parse(%q): column %d, want %d (%v)", c.expr, fe.Col, c.col, err)
		}
	}
}
