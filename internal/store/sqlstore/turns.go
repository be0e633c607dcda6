package sqlstore

import "sync"

// turns keeps OnCommit callbacks in commit order across several writers.
//
// A writer takes a turn just before it sends COMMIT, and runs its batch's
// callbacks only when every earlier turn is done. That order agrees with the
// database's: if batch B read or overwrote a row batch A wrote (say both
// appended to one conversation, so B waited for A's row lock), A's COMMIT
// was sent before A's lock was released, hence before B's statement went on,
// hence before B took its turn. So a conversation's messages are published
// in seq order, as with a single writer. The cost: a writer whose COMMIT
// returns first may wait for an earlier one's to return. With one writer
// there is nothing to order and turns is nil.
type turns struct {
	mu   sync.Mutex
	cond sync.Cond
	next uint64 // the turn whose callbacks may run
	last uint64 // turns handed out
}

// turn is one batch's place in the commit order.
type turn struct {
	n        uint64
	finished bool // done: the next turn may run (writer-owned)
}

func newTurns() *turns {
	t := &turns{}
	t.cond.L = &t.mu
	return t
}

// take hands out the next turn (nil on a nil turns).
func (ts *turns) take() *turn {
	if ts == nil {
		return nil
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t := &turn{n: ts.last}
	ts.last++
	return t
}

// wait blocks until every turn before t is done.
func (ts *turns) wait(t *turn) {
	if t == nil {
		return
	}
	ts.mu.Lock()
	for ts.next != t.n {
		ts.cond.Wait()
	}
	ts.mu.Unlock()
}

// done lets the turn after t run. t must have waited for its turn.
func (ts *turns) done(t *turn) {
	if t == nil || t.finished {
		return
	}
	t.finished = true
	ts.mu.Lock()
	ts.next++
	ts.cond.Broadcast()
	ts.mu.Unlock()
}

// skip gives t back without callbacks (its COMMIT failed, or its writer
// died): waits for its turn, then passes it on. Nothing if already done.
func (ts *turns) skip(t *turn) {
	if t == nil || t.finished {
		return
	}
	ts.wait(t)
	ts.done(t)
}
