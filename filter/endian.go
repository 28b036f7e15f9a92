package filter

import "encoding/binary"

// nativeEndian is the byte order of the kernel's bytecode words, which are
// host-order C structs.
var nativeEndian = binary.NativeEndian
