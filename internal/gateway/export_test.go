package gateway

// DisablePolling makes g read each new socket on a goroutine of its own
// (readLoop), as where there is no epoll, so tests cover that path too.
func DisablePolling(g *Gateway) { g.poll = nil }
