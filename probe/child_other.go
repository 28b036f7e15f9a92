//go:build !linux

package probe

// RunChildIfRequested returns at once outside Linux: there is no child
// mode there.
func RunChildIfRequested() {}

// StartServer fails with ErrUnsupported outside Linux.
func (p *Probe) StartServer(spec ServerSpec) (*Child, error) {
	return nil, p.fail(spec.Name, "fork+exec(socktop probe child)", ErrUnsupported)
}

// Kill fails with ErrUnsupported outside Linux.
func (c *Child) Kill() error { return ErrUnsupported }

func (c *Child) stop() {}

// StartProgram is Linux-only.
func (p *Probe) StartProgram(name, program string, args any, pass ...*Endpoint) (*Child, error) {
	return nil, ErrUnsupported
}

// Adopt is Linux-only.
func (p *Probe) Adopt(name string, fd int) (*Endpoint, error) { return nil, ErrUnsupported }

// Command is Linux-only.
func (c *Child) Command(line string) error { return ErrUnsupported }
