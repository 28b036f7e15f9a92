package kerneltest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// nobodyEnv names the one test a child run as nobody is for.
const nobodyEnv = "SOCKTOP_TEST_NOBODY"

// AsNobody reports whether the calling test should run its checks here:
// in the child made for it, or in a run that is unprivileged already. As
// root it runs the test binary again for that test alone, as uid and gid
// 65534 with no capabilities (setpriv), fails t if the child did not
// pass, and reports false. The binary is copied to a directory nobody
// can read, since the go tool's build directory is root's.
func AsNobody(t *testing.T) bool {
	t.Helper()
	if os.Getenv(nobodyEnv) == t.Name() || os.Geteuid() != 0 {
		return true
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skipf("no setpriv to drop root with: %v", err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "socktop-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, filepath.Base(self))
	if err := CopyExecutable(self, bin); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
		bin, "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), nobodyEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s as nobody: %v\n%s", t.Name(), err, out)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("%s did not pass as nobody:\n%s", t.Name(), out)
	}
	t.Logf("as nobody:\n%s", out)
	return false
}
