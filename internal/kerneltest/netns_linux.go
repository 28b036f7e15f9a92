// Package kerneltest holds what the tests of several packages need to
// run on the real kernel: a loopback address of their own, and a network
// namespace of their own for the few that count host-wide figures.
package kerneltest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// netnsEnv is set in a test binary run in a network namespace its parent
// made for it: to the name of the one test to run, or to netnsAll.
const netnsEnv = "SOCKTOP_TEST_NETNS"

// netnsAll: the whole suite runs in the namespace (see Main).
const netnsAll = "all"

// Main is a test binary's TestMain: it makes sure loopback works. In a
// namespace made for this binary it brings lo up, which a new namespace
// has down. In a namespace it did not make (`unshare -n go test` leaves
// lo down) it changes nothing: it runs the suite again in a new namespace
// of its own with lo up, since every socket test needs loopback traffic.
// So both of these run the suite away from the host's sockets:
//
//	unshare -n sh -c 'ip link set lo up; go test ./collect'
//	unshare -n go test ./collect
func Main(m *testing.M) {
	if os.Getenv(netnsEnv) != "" {
		if err := setLinkUp("lo"); err != nil {
			fmt.Fprintf(os.Stderr, "bringing lo up in the test's own network namespace: %v\n", err)
			os.Exit(1)
		}
		os.Exit(m.Run())
	}
	if up, err := linkUp("lo"); err == nil && !up {
		fmt.Fprintln(os.Stderr, "lo is down in this network namespace: running the tests in a new one with lo up")
		cmd := exec.Command(os.Args[0], os.Args[1:]...)
		cmd.Env = append(os.Environ(), netnsEnv+"="+netnsAll)
		cmd.SysProcAttr = newNetnsAttr()
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				os.Exit(exit.ExitCode())
			}
			fmt.Fprintf(os.Stderr, "cannot make a network namespace for the tests (%v): they need lo up\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// newNetnsAttr starts a child in a new network namespace, and a new user
// namespace too when not root.
func newNetnsAttr() *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if os.Geteuid() != 0 {
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
	}
	return attr
}

// InQuietNetns is for the few tests whose subject is a host-wide figure
// (a socket count) that no other program may move meanwhile: they run in a
// network namespace of their own. Called first in such a test, it runs
// this test binary again, for that test alone, in a new network namespace
// with lo up, and reports false:
// the caller returns, its verdict being the child's. In the child it
// reports true, and the test goes on.
func InQuietNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv(netnsEnv) == t.Name() {
		return true // TestMain brought lo up
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), netnsEnv+"="+t.Name())
	cmd.SysProcAttr = newNetnsAttr()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s in a network namespace of its own: %v\n%s", t.Name(), err, out)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("%s did not pass in its own network namespace:\n%s", t.Name(), out)
	}
	return false
}

// linkFlags reads the flags of the named interface of this network
// namespace, through fd.
func linkFlags(fd int, name string) (*unix.Ifreq, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return nil, err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return nil, fmt.Errorf("SIOCGIFFLAGS %s: %w", name, err)
	}
	return ifr, nil
}

// linkUp reports whether the named interface is up.
func linkUp(name string) (bool, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	defer unix.Close(fd)
	ifr, err := linkFlags(fd, name)
	if err != nil {
		return false, err
	}
	return ifr.Uint16()&unix.IFF_UP != 0, nil
}

// setLinkUp sets IFF_UP on the named interface of this network namespace;
// one already up is left alone (an unprivileged child of the suite
// inherits the environment that asks for it).
func setLinkUp(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := linkFlags(fd, name)
	if err != nil || ifr.Uint16()&unix.IFF_UP != 0 {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}
