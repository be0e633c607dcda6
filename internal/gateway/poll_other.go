//go:build !linux

package gateway

import "errors"

// poller is Linux-only (epoll); elsewhere each socket is read by a goroutine
// of its own (socket.readLoop), as before.
type poller struct{}

func sharedPoller() (*poller, error) { return nil, errors.New("readiness polling needs Linux") }

func (p *poller) add(*socket) error   { return errors.New("no poller") }
func (p *poller) rearm(*socket) error { return errors.New("no poller") }
func (p *poller) remove(*socket)      {}
