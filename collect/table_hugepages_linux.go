//go:build linux

package collect

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePageSize is the size of a transparent huge page on the platforms
// socktop runs on (x86-64 and arm64 with 4 KiB base pages).
const hugePageSize = 2 << 20

// minHugeTable is the smallest new table array that asks for huge pages:
// below it the array is too small to hold a whole one.
const minHugeTable = 4 << 20

// adviseHugePages asks the kernel to back the whole 2 MiB pages inside a
// new table array with transparent huge pages (madvise MADV_HUGEPAGE,
// which is what the kernel's default "madvise" mode waits for). A dump
// fills the array front to back once; with 4 KiB pages that is a page
// fault every 18 rows, a tenth of a large --once run's time. It is a
// hint: where the kernel has no huge page to give, or THP is off, the
// array gets small pages as before.
func adviseHugePages(socks []Socket) {
	size := uintptr(cap(socks)) * unsafe.Sizeof(Socket{})
	base := unsafe.Pointer(unsafe.SliceData(socks))
	start, end, ok := hugeSpan(uintptr(base), size)
	if !ok {
		return
	}
	_ = unix.Madvise(unsafe.Slice((*byte)(base), size)[start:end], unix.MADV_HUGEPAGE)
}

// hugeSpan returns the offsets, in an array of size bytes at base, of
// the whole huge pages inside it, and false for an array too small to
// be advised (under minHugeTable, or holding no whole huge page).
func hugeSpan(base, size uintptr) (start, end uintptr, ok bool) {
	if size < minHugeTable {
		return 0, 0, false
	}
	start = (base+hugePageSize-1)&^(hugePageSize-1) - base
	end = (base+size)&^(hugePageSize-1) - base
	return start, end, end > start
}
