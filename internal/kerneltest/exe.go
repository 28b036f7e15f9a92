package kerneltest

import (
	"io"
	"os"
)

// CopyExecutable copies the executable at from to to, mode 0755, so a test
// can run its own binary as another user from a directory that user can
// read (the build's own directory usually is not).
func CopyExecutable(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
