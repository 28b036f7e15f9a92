//go:build linux

package collect

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"socktop/internal/kerneltest"
)

// destroyRowEnv carries, as JSON, the row an unprivileged child of
// TestDestroyNotRoot tries to kill.
const destroyRowEnv = "SOCKTOP_TEST_DESTROY_ROW"

// TestDestroyNotRoot: as nobody, without CAP_NET_ADMIN, Destroy is refused
// with the explanation, and the connection lives on.
func TestDestroyNotRoot(t *testing.T) {
	if raw := os.Getenv(destroyRowEnv); raw != "" {
		var row Socket
		if err := json.Unmarshal([]byte(raw), &row); err != nil {
			t.Fatal(err)
		}
		err := Destroy(context.Background(), &row)
		if !errors.Is(err, ErrNeedNetAdmin) || !errors.Is(err, unix.EPERM) ||
			!strings.Contains(err.Error(), "CAP_NET_ADMIN") || !strings.Contains(err.Error(), "setcap") {
			t.Fatalf("Destroy without CAP_NET_ADMIN: %v", err)
		}
		t.Logf("refused: %v", err)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a child without it")
	}
	c, s, _ := pairTCP(t, unix.AF_INET)
	row := rowOf(t, c)
	raw, err := json.Marshal(row)
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: its parent is not searchable by nobody.
	dir, err := os.MkdirTemp("", "socktop-destroy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "collect.test")
	if err := kerneltest.CopyExecutable(self, bin); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestDestroyNotRoot$", "-test.v", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), destroyRowEnv+"="+string(raw))
	// A uid other than 0 leaves the child with no capabilities.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestDestroyNotRoot") {
		t.Fatalf("unprivileged run: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	alive(t, c, s)
	if !ssListed(t, row.Cookie) {
		t.Errorf("ss no longer lists the socket an unprivileged kill was refused")
	}
}
