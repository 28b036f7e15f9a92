package collect

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// vmFlags returns the VmFlags of the mapping of /proc/self/smaps that
// holds addr.
func vmFlags(t *testing.T, addr uintptr) []string {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no smaps: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		if lo, hi, ok := strings.Cut(strings.Fields(line)[0], "-"); ok && !strings.HasSuffix(line, ":") {
			l, err1 := strconv.ParseUint(lo, 16, 64)
			h, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 == nil && err2 == nil {
				in = uint64(addr) >= l && uint64(addr) < h
				continue
			}
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			return strings.Fields(line)[1:]
		}
	}
	t.Fatalf("no mapping of /proc/self/smaps holds %#x", addr)
	return nil
}

// A new array for a large table is marked for huge pages (VmFlags hg):
// the kernel shows it. One for a small table is not advised; that is
// hugeSpan's decision, since the heap's pages are reused: a small array
// may lie where an earlier large one, advised and freed, was, and the
// mapping keeps the flag.
func TestTableBufferAsksForHugePages(t *testing.T) {
	big := tableBuffer(nil, 100000)
	mid := uintptr(unsafe.Pointer(unsafe.SliceData(big[:1]))) + uintptr(cap(big))*unsafe.Sizeof(Socket{})/2
	if flags := vmFlags(t, mid); !contains(flags, "hg") {
		t.Errorf("the middle of a %d-row array is in a mapping with VmFlags %v, want hg", cap(big), flags)
	}
	runtime.KeepAlive(big)
	small := tableBuffer(nil, 100)
	size := uintptr(cap(small)) * unsafe.Sizeof(Socket{})
	if _, _, ok := hugeSpan(uintptr(unsafe.Pointer(unsafe.SliceData(small))), size); ok {
		t.Errorf("a %d-row array (%d bytes) would be advised", cap(small), size)
	}
	for _, base := range []uintptr{0x7f0000000000, 0x7f0000001040, 0x7f00001ff000} {
		start, end, ok := hugeSpan(base, minHugeTable)
		if !ok || (base+start)%hugePageSize != 0 || (base+end)%hugePageSize != 0 || end > minHugeTable || end-start < hugePageSize {
			t.Errorf("a %d-byte array at %#x: span %#x-%#x (%v), want whole huge pages inside it", minHugeTable, base, start, end, ok)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
