//go:build linux

package gateway

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// poller watches idle sockets for readability with one epoll instance
// shared by every gateway of the process, so an idle socket costs no
// goroutine. Each socket is armed EPOLLONESHOT: one readiness event starts
// one reader goroutine (socket.onReadable), and the socket is re-armed when
// that reader has handled what arrived, so a socket never has two readers.
// The Go runtime's own poller keeps working underneath: reads and writes on
// the net.Conn, deadlines included, are as usual.
type poller struct {
	epfd  int
	mu    sync.Mutex
	socks map[uint64]*socket // by pollID; an id is never reused, so a late event for a closed socket finds nothing
	next  uint64
}

var sharedPoller = sync.OnceValues(func() (*poller, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	p := &poller{epfd: fd, socks: map[uint64]*socket{}}
	go p.wait()
	return p, nil
})

// pollEvents: readable, or the peer hung up (a read then returns EOF).
const pollEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

func (p *poller) add(s *socket) error {
	p.mu.Lock()
	p.next++
	id := p.next
	s.pollID.Store(id)
	p.socks[id] = s
	p.mu.Unlock()
	if err := p.ctl(s, unix.EPOLL_CTL_ADD); err != nil {
		p.mu.Lock()
		delete(p.socks, id)
		p.mu.Unlock()
		return err
	}
	return nil
}

// rearm watches the socket again after its reader handled what arrived.
// Level-triggered: bytes that arrived meanwhile fire at once.
func (p *poller) rearm(s *socket) error {
	if p == nil {
		return errors.New("no poller")
	}
	// The next reader is started by wait, under p.mu: taking it here orders
	// this reader's writes (a partial message, …) before the next one's
	// reads, for the race detector as for the memory model.
	p.mu.Lock()
	p.mu.Unlock() //nolint:staticcheck // an empty critical section is the point
	return p.ctl(s, unix.EPOLL_CTL_MOD)
}

// remove forgets the socket before its connection is closed.
func (p *poller) remove(s *socket) {
	id := s.pollID.Load()
	if p == nil || id == 0 {
		return
	}
	p.mu.Lock()
	delete(p.socks, id)
	p.mu.Unlock()
	_ = p.ctl(s, unix.EPOLL_CTL_DEL)
}

// ctl runs epoll_ctl on the socket's descriptor. RawConn.Control keeps the
// descriptor open meanwhile, so a concurrent Close cannot make it name
// another connection.
func (p *poller) ctl(s *socket, op int) error {
	var cerr error
	id := s.pollID.Load()
	err := s.conn.rc.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: pollEvents, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
		cerr = unix.EpollCtl(p.epfd, op, int(fd), &ev)
	})
	if err != nil {
		return err
	}
	return cerr
}

func (p *poller) wait() {
	evs := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(p.epfd, evs, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			// Not expected; sockets wait meanwhile (their idle timers still run).
			slog.Error("gateway: epoll_wait failed", "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		p.mu.Lock()
		for _, ev := range evs[:n] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if s := p.socks[id]; s != nil {
				go s.onReadable()
			}
		}
		p.mu.Unlock()
	}
}
