//go:build unix

package loadtest

import (
	"syscall"
	"time"
)

// RaiseFileLimit raises RLIMIT_NOFILE to its hard limit and returns the new
// soft limit.
func RaiseFileLimit() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
			return uint64(rl.Cur), err
		}
	}
	return uint64(rl.Cur), nil
}

// selfCPU is this process's CPU time so far (user + system).
func selfCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
