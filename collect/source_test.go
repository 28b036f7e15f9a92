//go:build linux

package collect

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

const refuseEnv = "SOCKTOP_TEST_REFUSE_NETLINK"

// TestNewSourceFallsBack runs this test binary again under a seccomp
// filter that refuses socket(AF_NETLINK, ...) with EPERM, as a sandbox
// would: "auto" must fall back to gopsutil and say so once, and "netlink"
// must fail with ErrUnsupported.
func TestNewSourceFallsBack(t *testing.T) {
	if os.Getenv(refuseEnv) == "1" {
		refusedChild(t)
		return
	}
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skip("the seccomp filter is written for amd64 and arm64 syscall numbers")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNewSourceFallsBack$", "-test.v")
	cmd.Env = append(os.Environ(), refuseEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run without sock_diag failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestNewSourceFallsBack") {
		t.Fatalf("run without sock_diag did not pass:\n%s", out)
	}
}

func refusedChild(t *testing.T) {
	if err := refuseNetlink(); err != nil {
		t.Fatalf("installing the seccomp filter: %v", err)
	}
	if _, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_SOCK_DIAG); err != unix.EPERM {
		t.Fatalf("the filter does not work: socket(AF_NETLINK) = %v", err)
	}
	if _, err := NewSource("netlink", Options{}); !errors.Is(err, ErrUnsupported) {
		t.Errorf(`NewSource("netlink") without sock_diag: %v, want ErrUnsupported`, err)
	}
	src, err := NewSource("auto", Options{TCP: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	snap, err := src.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Source != "gopsutil" || !slices.Contains(snap.Notices, noticeFallback) {
		t.Errorf("auto without sock_diag: source %q notices %q", snap.Source, snap.Notices)
	}
	again, err := src.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(again.Notices, noticeFallback) {
		t.Errorf("the fallback notice was told twice")
	}
}

// refuseNetlink installs, on every thread, a seccomp filter that makes
// socket(AF_NETLINK, ...) fail with EPERM.
func refuseNetlink() error {
	const (
		ldAbs   = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq     = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		ret     = unix.BPF_RET | unix.BPF_K
		retErr  = 0x00050000 // SECCOMP_RET_ERRNO
		retOK   = 0x7fff0000 // SECCOMP_RET_ALLOW
		argsOff = 16         // offsetof(struct seccomp_data, args)
	)
	filter := []unix.SockFilter{
		{Code: ldAbs, K: 0}, // syscall number
		{Code: jeq, K: unix.SYS_SOCKET, Jt: 0, Jf: 3},
		{Code: ldAbs, K: argsOff}, // low half of the domain argument
		{Code: jeq, K: unix.AF_NETLINK, Jt: 0, Jf: 1},
		{Code: ret, K: retErr | uint32(unix.EPERM)},
		{Code: ret, K: retOK},
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	const setModeFilter, flagTsync = 1, 1
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, setModeFilter, flagTsync, uintptr(unsafe.Pointer(&prog))); e != 0 {
		return e
	}
	return nil
}

const emfileEnv = "SOCKTOP_TEST_EMFILE"

// TestNewSourceNamesEMFILE runs this test binary again with every
// descriptor in use: socket() then fails with EMFILE, which is this
// process's trouble, not a refusal of sock_diag. "auto" must not hide it
// behind a fallback to gopsutil (which would fail on it too), and the
// error must say EMFILE, not "unsupported".
func TestNewSourceNamesEMFILE(t *testing.T) {
	if os.Getenv(emfileEnv) == "1" {
		emfileChild(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNewSourceNamesEMFILE$", "-test.v")
	cmd.Env = append(os.Environ(), emfileEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run out of descriptors failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestNewSourceNamesEMFILE") {
		t.Fatalf("run out of descriptors did not pass:\n%s", out)
	}
}

func emfileChild(t *testing.T) {
	lim := unix.Rlimit{Cur: 64, Max: 64}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	var held []int
	defer func() {
		for _, fd := range held {
			unix.Close(fd)
		}
	}()
	for {
		fd, err := unix.Dup(0)
		if err == unix.EMFILE {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, fd)
	}
	for _, name := range []string{"auto", "netlink"} {
		src, err := NewSource(name, Options{TCP: true})
		if err == nil {
			t.Errorf("NewSource(%q) with no descriptor left gave %T, want an error", name, src)
			continue
		}
		if !errors.Is(err, unix.EMFILE) || errors.Is(err, ErrUnsupported) {
			t.Errorf("NewSource(%q) with no descriptor left: %v, want EMFILE and not ErrUnsupported", name, err)
		}
	}
}
