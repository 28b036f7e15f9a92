//go:build !linux

package collect

// ownerCache is empty off Linux: the netlink source that uses it does not
// exist there, and gopsutil names owners itself.
type ownerCache struct{}

func newOwnerCache() *ownerCache { return &ownerCache{} }

// resolve leaves owners unknown.
func (c *ownerCache) resolve(socks []Socket) string { return "" }
