//go:build !unix

package loadtest

import "errors"

// RaiseFileLimit is not supported here.
func RaiseFileLimit() (uint64, error) { return 0, errors.New("not supported") }
