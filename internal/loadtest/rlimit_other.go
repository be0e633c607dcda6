//go:build !unix

package loadtest

import (
	"errors"
	"time"
)

// RaiseFileLimit is not supported here.
func RaiseFileLimit() (uint64, error) { return 0, errors.New("not supported") }

// selfCPU is not measured here.
func selfCPU() (time.Duration, bool) { return 0, false }
