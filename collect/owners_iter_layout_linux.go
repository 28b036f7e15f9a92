//go:build linux

package collect

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/cilium/ebpf/btf"

	"socktop/internal/btfmember"
)

// taskFileLayout is where the task_file iterator program finds what it
// reads, taken from the running kernel's BTF so that one program fits
// every kernel it loads on. Each is a byte offset for a direct load.
type taskFileLayout struct {
	// ctxMeta, ctxTask and ctxFile are the members of the program's
	// context, struct bpf_iter__task_file; metaSeq is the seq_file in
	// struct bpf_iter_meta that bpf_seq_write writes to.
	ctxMeta, ctxTask, ctxFile, metaSeq int16
	taskTgid                           int16 // task_struct.tgid, u32
	fileInode                          int16 // file.f_inode, a pointer
	inodeMode                          int16 // inode.i_mode, u16
	inodeIno                           int16 // inode.i_ino, unsigned long
	inodeSb                            int16 // inode.i_sb, a pointer
	sbMagic                            int16 // super_block.s_magic, unsigned long
}

// errNoBTFMember says a member is not in the kernel's type.
var errNoBTFMember = errors.New("no such member")

// loadTaskFileLayout reads the offsets of taskFileLayout from spec.
func loadTaskFileLayout(spec *btf.Spec) (taskFileLayout, error) {
	var l taskFileLayout
	var err error
	need := func(dst *int16, typ string, size int, path ...string) {
		if err != nil {
			return
		}
		var s *btf.Struct
		if e := spec.TypeByName(typ, &s); e != nil {
			err = fmt.Errorf("struct %s in the kernel's BTF: %w", typ, e)
			return
		}
		*dst, err = btfOffset(s, size, path...)
	}
	need(&l.ctxMeta, "bpf_iter__task_file", 8, "meta")
	need(&l.ctxTask, "bpf_iter__task_file", 8, "task")
	need(&l.ctxFile, "bpf_iter__task_file", 8, "file")
	need(&l.metaSeq, "bpf_iter_meta", 8, "seq")
	need(&l.taskTgid, "task_struct", 4, "tgid")
	need(&l.fileInode, "file", 8, "f_inode")
	need(&l.inodeMode, "inode", 2, "i_mode")
	need(&l.inodeIno, "inode", 8, "i_ino")
	need(&l.inodeSb, "inode", 8, "i_sb")
	need(&l.sbMagic, "super_block", 8, "s_magic")
	return l, err
}

// btfOffset finds the member at path in t, looking through anonymous
// structs and unions as C resolves a name, and checks that it is a whole,
// byte-aligned member size bytes wide.
func btfOffset(t btf.Type, size int, path ...string) (int16, error) {
	name := t.TypeName()
	var off btf.Bits
	var m *btf.Member
	for _, p := range path {
		var at btf.Bits
		var ok bool
		if m, at, ok = btfmember.Find(t, p); !ok {
			return 0, fmt.Errorf("struct %s: %s: %w", name, strings.Join(path, "."), errNoBTFMember)
		}
		off += at
		t = m.Type
	}
	if m.BitfieldSize != 0 || off%8 != 0 {
		return 0, fmt.Errorf("struct %s: %s is not a byte-aligned member", name, strings.Join(path, "."))
	}
	sz, err := btf.Sizeof(m.Type)
	if err != nil {
		return 0, fmt.Errorf("struct %s: size of %s: %w", name, strings.Join(path, "."), err)
	}
	if sz != size {
		return 0, fmt.Errorf("struct %s: %s is %d bytes, want %d", name, strings.Join(path, "."), sz, size)
	}
	if off/8+btf.Bits(sz) > math.MaxInt16 {
		return 0, fmt.Errorf("struct %s: %s at byte %d is beyond a load's reach", name, strings.Join(path, "."), off/8)
	}
	return int16(off / 8), nil
}
