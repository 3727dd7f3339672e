//go:build unix

package hub

import "syscall"

// connCapFromFDs is the connection cap that RLIMIT_NOFILE allows: the
// limit less a reserve of max(64, 10%) descriptors for the database, the
// HTTP and MQTT sides, the admin socket and the listeners themselves, so
// that a flood of XMPP connections cannot starve them. 0 means no limit
// (none set, or one too large to matter, such as RLIM_INFINITY).
func connCapFromFDs() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur > 1<<30 {
		return 0
	}
	n := int(r.Cur)
	return max(n-max(64, n/10), 1)
}
