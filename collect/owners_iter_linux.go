//go:build linux

package collect

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// taskIterProgName is the program's name as bpftool lists it.
const taskIterProgName = "socktop_owners"

// The record the iterator writes for each socket descriptor: two u32 in
// the machine's byte order.
const (
	iterRecIno  = 0 // the socket's inode number
	iterRecTgid = 4 // the holding task's tgid
	iterRecSize = 8
)

// sockfsMagic is SOCKFS_MAGIC, the s_magic of the superblock socket
// inodes live on. An O_PATH descriptor of a Unix socket's file on disk
// has S_IFSOCK too, but an inode number of another filesystem.
const sockfsMagic = 0x534F434B

// initPIDNS is the inode of the initial pid namespace (PROC_PID_INIT_INO):
// the iterator reports task->tgid, the pid as the initial namespace
// numbers it, which is what /proc shows only there.
const initPIDNS = "pid:[4026531836]"

// iterReadSize is one read of the iterator: more than the kernel's seq
// buffer (8 pages), so each read returns all it has.
const iterReadSize = 64 << 10

// taskIter is the loaded task_file iterator: a program that walks every
// open file of every task inside the kernel and writes (inode, tgid) for
// the sockets, so a full owner pass costs no readlink per descriptor.
type taskIter struct {
	prog *ebpf.Program
	lnk  *link.Iter
	buf  []byte
}

// loadTaskIter loads and attaches the iterator. It fails where BPF is
// refused (no CAP_BPF and CAP_PERFMON), where the kernel has no BTF or no
// task_file iterator (before 5.8), and inside a pid namespace.
func loadTaskIter() (_ *taskIter, err error) {
	if ns, err := os.Readlink("/proc/self/ns/pid"); err != nil || ns != initPIDNS {
		return nil, fmt.Errorf("task_file iterator: not in the initial pid namespace (%s): its tgids are not /proc's", ns)
	}
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; where it
	// cannot be raised, the load below says why.
	_ = rlimit.RemoveMemlock()
	// One cache for the layout and for the load's lookup of the attach
	// target, so the kernel's BTF is decoded once.
	cache := btf.NewCache()
	spec, err := cache.Kernel()
	if err != nil {
		return nil, fmt.Errorf("task_file iterator: no kernel BTF: %w", err)
	}
	layout, err := loadTaskFileLayout(spec)
	if err != nil {
		return nil, fmt.Errorf("task_file iterator: %w", err)
	}
	t := &taskIter{buf: make([]byte, iterReadSize)}
	defer func() {
		if err != nil {
			t.close()
		}
	}()
	coll, err := ebpf.NewCollectionWithOptions(&ebpf.CollectionSpec{
		Programs: map[string]*ebpf.ProgramSpec{taskIterProgName: {
			Name:         taskIterProgName,
			Type:         ebpf.Tracing,
			AttachType:   ebpf.AttachTraceIter,
			AttachTo:     "task_file",
			Instructions: taskFileProgram(layout),
			// bpf_seq_write is offered to GPL programs only.
			License: "GPL",
		}},
	}, ebpf.CollectionOptions{Cache: cache})
	if err != nil {
		return nil, fmt.Errorf("task_file iterator: loading the program: %w", err)
	}
	t.prog = coll.DetachProgram(taskIterProgName)
	coll.Close()
	if t.lnk, err = link.AttachIter(link.IterOptions{Program: t.prog}); err != nil {
		return nil, fmt.Errorf("task_file iterator: attaching: %w", err)
	}
	return t, nil
}

// Registers the iterator program keeps across its loads and the helper
// call.
const (
	rIterCtx  = asm.R6
	rIterTask = asm.R7
	rIterFile = asm.R8
)

// taskFileProgram assembles the iter/task_file program: for each open
// file whose inode is a socket (S_IFSOCK on sockfs) it writes the record
// (i_ino, task->tgid) to the iterator's seq_file. The kernel visits the
// threads of a process only when they do not share the leader's file
// table; a thread that has its own writes records under its tgid too,
// and the caller drops the duplicates.
func taskFileProgram(l taskFileLayout) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(rIterCtx, asm.R1),
		// The last call, after the walk, has no task and no file.
		asm.LoadMem(rIterTask, rIterCtx, l.ctxTask, asm.DWord),
		asm.JEq.Imm(rIterTask, 0, "out"),
		asm.LoadMem(rIterFile, rIterCtx, l.ctxFile, asm.DWord),
		asm.JEq.Imm(rIterFile, 0, "out"),

		asm.LoadMem(asm.R1, rIterFile, l.fileInode, asm.DWord),
		asm.JEq.Imm(asm.R1, 0, "out"),
		asm.LoadMem(asm.R2, asm.R1, l.inodeMode, asm.Half),
		asm.And.Imm(asm.R2, unix.S_IFMT),
		asm.JNE.Imm(asm.R2, unix.S_IFSOCK, "out"),
		asm.LoadMem(asm.R2, asm.R1, l.inodeSb, asm.DWord),
		asm.JEq.Imm(asm.R2, 0, "out"),
		asm.LoadMem(asm.R2, asm.R2, l.sbMagic, asm.DWord),
		asm.JNE.Imm(asm.R2, sockfsMagic, "out"),

		// The record on the stack.
		asm.LoadMem(asm.R2, asm.R1, l.inodeIno, asm.DWord),
		asm.StoreMem(asm.RFP, -iterRecSize+iterRecIno, asm.R2, asm.Word),
		asm.LoadMem(asm.R2, rIterTask, l.taskTgid, asm.Word),
		asm.StoreMem(asm.RFP, -iterRecSize+iterRecTgid, asm.R2, asm.Word),

		asm.LoadMem(asm.R1, rIterCtx, l.ctxMeta, asm.DWord),
		asm.LoadMem(asm.R1, asm.R1, l.metaSeq, asm.DWord),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -iterRecSize),
		asm.Mov.Imm(asm.R3, iterRecSize),
		asm.FnSeqWrite.Call(),

		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	}
}

// run walks every task's files once and calls f for each socket
// descriptor, in the kernel's order (by tgid, then fd); a socket held on
// several descriptors, or by several threads with their own file tables,
// comes more than once.
func (t *taskIter) run(f func(inode uint32, tgid int32)) (err error) {
	r, err := t.lnk.Open()
	if err != nil {
		return fmt.Errorf("task_file iterator: open: %w", err)
	}
	defer func() {
		if cerr := r.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("task_file iterator: close: %w", cerr)
		}
	}()
	ne := binary.NativeEndian
	have := 0
	for {
		n, err := r.Read(t.buf[have:])
		have += n
		done := have - have%iterRecSize
		for off := 0; off < done; off += iterRecSize {
			rec := t.buf[off : off+iterRecSize]
			f(ne.Uint32(rec[iterRecIno:]), int32(ne.Uint32(rec[iterRecTgid:])))
		}
		have = copy(t.buf, t.buf[done:have])
		if errors.Is(err, io.EOF) || (err == nil && n == 0) {
			if have != 0 {
				return fmt.Errorf("task_file iterator: %d bytes of a record left over", have)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("task_file iterator: read: %w", err)
		}
	}
}

// close releases the link and the program.
func (t *taskIter) close() {
	if t.lnk != nil {
		t.lnk.Close()
		t.lnk = nil
	}
	if t.prog != nil {
		t.prog.Close()
		t.prog = nil
	}
}

// collectIter fills c.pairs from the iterator, when it loads, and reads
// the names of the processes found. It reports false when the iterator is
// unavailable or failed: the caller scans /proc instead, and so do all
// later passes, since what failed once (no privilege, an old kernel)
// fails again.
func (c *ownerCache) collectIter(proc int, want []uint32) bool {
	if c.iterOff {
		return false
	}
	if c.iter == nil {
		it, err := loadTaskIter()
		if err != nil {
			c.iterOff, c.iterErr = true, err
			return false
		}
		c.iter = it
	}
	c.pairs = c.pairs[:0]
	err := c.iter.run(func(in uint32, pid int32) {
		if want != nil {
			if _, hit := slices.BinarySearch(want, in); !hit {
				return
			}
		}
		c.pairs = append(c.pairs, inodePID{inode: in, pid: pid})
	})
	if err != nil {
		c.iter.close()
		c.iter, c.iterOff, c.iterErr = nil, true, err
		c.pairs = c.pairs[:0]
		return false
	}
	// The records come by task, so a process's sockets are adjacent
	// (but for threads with their own file tables).
	c.iterPIDs = reuse(c.iterPIDs, len(c.names))
	for i, p := range c.pairs {
		if i == 0 || p.pid != c.pairs[i-1].pid {
			c.iterPIDs = append(c.iterPIDs, p.pid)
		}
	}
	slices.Sort(c.iterPIDs)
	c.iterPIDs = slices.Compact(c.iterPIDs)
	w := c.worker()
	w.comms = reuse(w.comms, len(c.iterPIDs))
	for _, pid := range c.iterPIDs {
		w.readComm(proc, pid, c.names)
	}
	for _, pn := range w.comms {
		c.names[pn.pid] = procName{name: pn.name, gen: c.gen}
	}
	c.via = OwnersViaBPF
	return true
}

// worker returns the first scan worker, made when there is none yet.
func (c *ownerCache) worker() *scanWorker {
	if len(c.workers) == 0 {
		c.workers = append(c.workers, newScanWorker())
	}
	return c.workers[0]
}

// close releases the iterator, after an early scan still running.
func (c *ownerCache) close() {
	if c.early != nil {
		<-c.early
	}
	if c.iter != nil {
		c.iter.close()
		c.iter = nil
	}
	c.iterOff, c.iterErr = false, nil
}
