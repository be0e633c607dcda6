package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/internal/model"
	"switchboard/internal/store"
	"switchboard/internal/store/sqlstore/pgtest"
)

// holdWriter blocks s's only writer until the returned release is called,
// so that the calls made meanwhile pile up into one batch.
func holdWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	holding, done := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- s.InTx(context.Background(), func(tx store.Tx) error { close(holding); <-done; return nil })
	}()
	<-holding
	return func() {
		close(done)
		if err := <-held; err != nil {
			t.Errorf("holding call: %v", err)
		}
	}
}

// An optimistic batch (no savepoints) in which one call fails after writing
// and another's statement fails: both fail alone, the others commit once,
// with gap-free seqs, after running a second time in a careful batch.
func TestPostgresOptimisticBatchFailures(t *testing.T) {
	ctx := context.Background()
	s := openPG(t, pgtest.NewDatabase(t), PostgresOptions{Writers: 1})
	_, conv := fixture(t, s)
	redos0 := s.redos.Load()
	release := holdWriter(t, s)

	errBoom := errors.New("boom")
	var runs [4]atomic.Int64
	results := make([]chan error, 4)
	for i := range results {
		results[i] = make(chan error, 1)
		go func() {
			results[i] <- s.InTx(ctx, func(tx store.Tx) error {
				runs[i].Add(1)
				m := model.Message{ConversationID: conv.ID, AuthorKind: model.PartySystem, Kind: model.KindEvent,
					Visibility: model.Public, ClientID: fmt.Sprint("call-", i)}
				if err := tx.AppendMessage(ctx, &m); err != nil {
					return err
				}
				switch i {
				case 1:
					return errBoom // after writing: only a rollback undoes it
				case 2:
					// A failing statement aborts a PostgreSQL transaction;
					// the function swallows the error.
					_, _ = tx.(*txImpl).q.exec(ctx, "SELECT 1/0")
				}
				return nil
			})
		}()
		for s.queued() < i+1 {
			time.Sleep(time.Millisecond)
		}
	}
	release()
	errs := make([]error, 4)
	for i := range results {
		errs[i] = <-results[i]
	}
	if errs[0] != nil || errs[3] != nil {
		t.Errorf("calls 0 and 3: %v, %v; want success", errs[0], errs[3])
	}
	if !errors.Is(errs[1], errBoom) {
		t.Errorf("call 1: %v, want its own error", errs[1])
	}
	if errs[2] == nil {
		t.Errorf("call 2 succeeded after a failed statement")
	}
	if n := s.redos.Load() - redos0; n < 1 {
		t.Errorf("%d batches run again, want at least 1", n)
	}
	var seqs []int64
	for i, want := range []bool{true, false, false, true} {
		m, err := s.GetMessageByClientID(ctx, conv.ID, model.PartySystem, 0, fmt.Sprint("call-", i))
		if got := err == nil; got != want {
			t.Errorf("message of call %d stored = %v, want %v (%v)", i, got, want, err)
		}
		if err == nil {
			seqs = append(seqs, m.Seq)
		}
	}
	if len(seqs) != 2 || seqs[0] != 1 || seqs[1] != 2 {
		t.Errorf("seqs %v, want [1 2]", seqs)
	}
	// The failing calls ran once: a failure is final, not run again.
	if runs[1].Load() != 1 || runs[2].Load() != 1 {
		t.Errorf("failing calls ran %d and %d times, want once each", runs[1].Load(), runs[2].Load())
	}
}

// A writer that dies while running its callbacks (runtime.Goexit) gives its
// turn back: the other writers' callbacks and callers are not held up.
func TestPostgresWriterDiesHoldingTurn(t *testing.T) {
	ctx := context.Background()
	s := openPG(t, pgtest.NewDatabase(t), PostgresOptions{Writers: 2})
	_, conv := fixture(t, s)
	done := make(chan error, 1)
	go func() {
		done <- s.InTx(ctx, func(tx store.Tx) error {
			m := model.Message{ConversationID: conv.ID, AuthorKind: model.PartySystem, Kind: model.KindEvent, Visibility: model.Public}
			if err := tx.AppendMessage(ctx, &m); err != nil {
				return err
			}
			tx.OnCommit(func() { runtime.Goexit() })
			return nil
		})
	}()
	if err := <-done; err != nil {
		t.Fatalf("the call whose callback exited: %v (committed, so want success)", err)
	}
	// Both writers still commit and publish, in order.
	var published atomic.Int64
	for i := range 8 {
		err := s.InTx(ctx, func(tx store.Tx) error {
			m := model.Message{ConversationID: conv.ID, AuthorKind: model.PartySystem, Kind: model.KindEvent, Visibility: model.Public}
			if err := tx.AppendMessage(ctx, &m); err != nil {
				return err
			}
			tx.OnCommit(func() { published.Add(1) })
			return nil
		})
		if err != nil {
			t.Fatalf("call %d after the writer died: %v", i, err)
		}
	}
	if n := published.Load(); n != 8 {
		t.Errorf("%d callbacks ran, want 8", n)
	}
}
