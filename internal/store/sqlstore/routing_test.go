package sqlstore

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/internal/model"
	"switchboard/internal/store"
	"switchboard/internal/store/sqlstore/pgtest"
)

// routingPlanCase is a routing read that runs on every routing decision,
// with the indexes its plan must use.
type routingPlanCase struct {
	name  string
	query string
	args  []any
	want  []string // index names the plan must use
	// merged: both states of a queue, read as two ordered ranges.
	merged bool
}

func routingPlanCases() []routingPlanCase {
	queue := func(name string, q store.QueueQuery, merged bool, want ...string) routingPlanCase {
		query, args := queueQuery(q)
		return routingPlanCase{name: name, query: query, args: args, want: want, merged: merged}
	}
	return []routingPlanCase{
		queue("queue head by priority", store.QueueQuery{SiteID: 1, DepartmentID: 2, State: model.QueueWaiting,
			ByPriority: true, Limit: 20}, false, "queue_priority"),
		queue("queue head oldest", store.QueueQuery{SiteID: 1, DepartmentID: 2, State: model.QueueWaiting, Limit: 20},
			false, "queue_oldest"),
		queue("queue both states by priority", store.QueueQuery{SiteID: 1, DepartmentID: 2, ByPriority: true, Limit: 20},
			true, "queue_priority"),
		queue("queue both states oldest", store.QueueQuery{SiteID: 1, DepartmentID: 2, Limit: 20}, true, "queue_oldest"),
		{name: "agents of a site", query: routingAgentsOfSite, args: []any{1, "supervisor"},
			want: []string{"user_sites_site_user"}},
		{name: "agents of a department", query: routingAgentsOfDepartment, args: []any{2, 1, "supervisor"},
			want: []string{"department_members"}},
		{name: "staffed agents of a site", query: staffedOfSite, args: []any{1, "supervisor"},
			want: []string{"user_sites_site_user"}},
		{name: "staffed agents of a department", query: staffedOfDepartment, args: []any{2, 1, "supervisor"},
			want: []string{"department_members"}},
	}
}

// TestRoutingQueriesUseIndexes: the queue is read in index order up to the
// limit (never a scan or a sort of the whole queue), agents in id order
// through an index with one lookup per agent.
func TestRoutingQueriesUseIndexes(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "switchboard.db"), Options{})
	for _, c := range routingPlanCases() {
		plan := sqlitePlan(t, s.r, c.query, c.args...)
		text := strings.Join(plan, "\n")
		for _, idx := range c.want {
			if !strings.Contains(text, idx) {
				t.Errorf("%s: plan\n%s\nwant index %s", c.name, text, idx)
			}
		}
		for _, line := range plan {
			if strings.HasPrefix(line, "SCAN ") && !c.merged {
				t.Errorf("%s: plan\n%s\nscans a table", c.name, text)
			}
			if strings.HasPrefix(line, "SCAN queue") || strings.HasPrefix(line, "SCAN users") {
				t.Errorf("%s: plan\n%s\nscans a table", c.name, text)
			}
		}
		if c.merged {
			// Each arm is a coroutine reading its index range up to the
			// limit; only those rows are sorted before the merge.
			if !strings.Contains(text, "MERGE (UNION ALL)") || strings.Count(text, "SEARCH queue USING INDEX") != 2 {
				t.Errorf("%s: plan\n%s\nwant two index ranges merged", c.name, text)
			}
		} else if strings.Contains(text, "TEMP B-TREE") {
			t.Errorf("%s: plan\n%s\nsorts", c.name, text)
		}
	}
}

// TestPostgresRoutingQueriesUseIndexes: the same reads can be served in
// index order with no sort at all (sorts and sequential scans disabled, as
// on large tables): the queue with both states is a Merge Append of two
// index ranges.
func TestPostgresRoutingQueriesUseIndexes(t *testing.T) {
	ctx := context.Background()
	s := openPG(t, pgtest.NewDatabase(t), PostgresOptions{})
	conn, err := s.r.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET enable_seqscan = off; SET enable_sort = off"); err != nil {
		t.Fatal(err)
	}
	for _, c := range routingPlanCases() {
		rows, err := conn.QueryContext(ctx, "EXPLAIN "+postgresDialect.rebind(c.query), c.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		rows.Close()
		text := strings.Join(plan, "\n")
		for _, idx := range c.want {
			if !strings.Contains(text, idx) {
				t.Errorf("%s: plan\n%s\nwant index %s", c.name, text, idx)
			}
		}
		if strings.Contains(text, "Seq Scan") || strings.Contains(text, "Sort  ") || strings.Contains(text, "Sort Method") ||
			strings.Contains(text, "->  Sort") {
			t.Errorf("%s: plan\n%s\nwant index order, no sort or scan", c.name, text)
		}
		if c.merged && !strings.Contains(text, "Merge Append") {
			t.Errorf("%s: plan\n%s\nwant a Merge Append", c.name, text)
		}
	}
}

// sqlitePlan returns the details of EXPLAIN QUERY PLAN.
func sqlitePlan(t *testing.T, db *sql.DB, query string, args ...any) []string {
	t.Helper()
	rows, err := db.Query("EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}

// TestRoutingMigrationKeepsUsersValid: existing users get a maximum
// capacity no lower than their capacity, and a load that counts the chats
// they are in.
func TestRoutingMigrationKeepsUsersValid(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", sqliteDSN(filepath.Join(t.TempDir(), "m.db"), false))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	p, err := newMigrator(sqliteDialect, db, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 2); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		"INSERT INTO sites (id, site_key, name, widget_mode) VALUES (1, 'k', 'n', 'live')",
		"INSERT INTO users (id, email, name, role, availability, capacity) VALUES (1, 'a@x', 'a', 'agent', 'offline', 3)",
		"INSERT INTO users (id, email, name, role, availability, capacity) VALUES (2, 'b@x', 'b', 'agent', 'offline', 40)",
		"INSERT INTO conversations (id, site_id, channel, status, priority, updated_at) VALUES (1, 1, 'widget', 'open', 'normal', 0)",
		"INSERT INTO chats (id, conversation_id, state) VALUES (1, 1, 'active'), (2, 1, 'ended')",
		"INSERT INTO conversations (id, site_id, channel, status, priority, updated_at, chat_id, chat_state) VALUES (2, 1, 'widget', 'open', 'high', 0, 3, 'waiting')",
		"INSERT INTO chats (id, conversation_id, state, requested_at) VALUES (3, 2, 'waiting', 77)",
		"INSERT INTO participants (chat_id, user_id, joined_at, left_at) VALUES (1, 1, 1, NULL), (2, 1, 1, 2), (1, 2, 1, 2)",
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := db.QueryContext(ctx, "SELECT id, capacity, max_capacity, load FROM users ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got [][4]int
	for rows.Next() {
		var r [4]int
		if err := rows.Scan(&r[0], &r[1], &r[2], &r[3]); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	want := [][4]int{{1, 3, 10, 1}, {2, 40, 40, 0}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("users after the migration (id, capacity, max_capacity, load): %v, want %v", got, want)
	}
	var routing string
	var hours sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT routing, hours FROM sites WHERE id = 1").Scan(&routing, &hours); err != nil {
		t.Fatal(err)
	}
	if routing != "{}" || hours.Valid {
		t.Errorf("site after the migration: routing %q, hours %v; want {} and NULL", routing, hours)
	}
	// The chat that was waiting is in its queue.
	var chat, conv, rank, requested int64
	var state string
	if err := db.QueryRowContext(ctx, "SELECT chat_id, conversation_id, priority_rank, requested_at, state FROM queue").Scan(&chat, &conv, &rank, &requested, &state); err != nil {
		t.Fatal(err)
	}
	if chat != 3 || conv != 2 || rank != 2 || requested != 77 || state != "waiting" {
		t.Errorf("queued at upgrade: chat %d conv %d rank %d requested %d state %s", chat, conv, rank, requested, state)
	}
}

// TestPostgresQueueEntryReadLocks: a Tx's GetQueueEntry locks the entry, so
// that two nodes offering the same waiting chat take turns and exactly one
// offers it.
func TestPostgresQueueEntryReadLocks(t *testing.T) {
	ctx := context.Background()
	a, b := twoNodes(t)
	site, conv := fixture(t, a)
	var entry model.QueueEntry
	if err := a.InTx(ctx, func(tx store.Tx) error {
		ch := model.Chat{ConversationID: conv.ID, State: model.ChatWaiting}
		if err := tx.CreateChat(ctx, &ch); err != nil {
			return err
		}
		entry = model.QueueEntry{ChatID: ch.ID, ConversationID: conv.ID, SiteID: site.ID, Priority: model.PriorityNormal,
			State: model.QueueWaiting}
		return tx.PutQueueEntry(ctx, entry)
	}); err != nil {
		t.Fatal(err)
	}
	claim := func(s *Store, gate func()) (bool, error) {
		claimed := false
		err := s.InTx(ctx, func(tx store.Tx) error {
			e, err := tx.GetQueueEntry(ctx, entry.ChatID)
			if err != nil {
				return err
			}
			gate()
			if e.State != model.QueueWaiting {
				return nil
			}
			e.State = model.QueuePending
			claimed = true
			return tx.PutQueueEntry(ctx, e)
		})
		return claimed, err
	}
	read := make(chan struct{})
	release := make(chan struct{})
	var releaseOnce sync.Once
	releaseA := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(releaseA) // before the stores close, should the test stop early
	aDone := make(chan bool, 1)
	go func() {
		ok, err := claim(a, func() { close(read); <-release })
		if err != nil {
			t.Errorf("node A: %v", err)
		}
		aDone <- ok
	}()
	<-read
	bDone := make(chan bool, 1)
	go func() {
		ok, err := claim(b, func() {})
		if err != nil {
			t.Errorf("node B: %v", err)
		}
		bDone <- ok
	}()
	waitForLockWait(t, a)
	releaseA()
	if okA, okB := <-aDone, <-bDone; !okA || okB {
		t.Errorf("claims: node A %v, node B %v; want A only", okA, okB)
	}
}

// TestPostgresRecountLoadAcrossNodes: node B recounts a user's load while
// node A, which changed the user's chats, has not committed yet. B waits
// for A and then counts A's change too: no load is lost.
func TestPostgresRecountLoadAcrossNodes(t *testing.T) {
	ctx := context.Background()
	a, b := twoNodes(t)
	_, conv := fixture(t, a)
	var user model.User
	var c1, c2 model.Chat
	if err := a.InTx(ctx, func(tx store.Tx) error {
		user = model.User{Email: "u@example.com", Name: "U", Role: model.RoleAgent, Availability: model.Available, Capacity: 3}
		if err := tx.CreateUser(ctx, &user); err != nil {
			return err
		}
		c1 = model.Chat{ConversationID: conv.ID, State: model.ChatActive}
		if err := tx.CreateChat(ctx, &c1); err != nil {
			return err
		}
		c2 = model.Chat{ConversationID: conv.ID, State: model.ChatPending}
		return tx.CreateChat(ctx, &c2)
	}); err != nil {
		t.Fatal(err)
	}
	recounted := make(chan struct{})
	release := make(chan struct{})
	var releaseOnce sync.Once
	releaseA := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(releaseA)
	aDone := make(chan int, 1)
	go func() {
		var load int
		err := a.InTx(ctx, func(tx store.Tx) error {
			if err := tx.AddParticipant(ctx, c1.ID, user.ID, time.Now()); err != nil {
				return err
			}
			var err error
			if load, err = tx.RecountLoad(ctx, user.ID); err != nil {
				return err
			}
			close(recounted)
			<-release
			return nil
		})
		if err != nil {
			t.Errorf("node A: %v", err)
		}
		aDone <- load
	}()
	<-recounted
	bDone := make(chan int, 1)
	go func() {
		var load int
		err := b.InTx(ctx, func(tx store.Tx) error {
			err := tx.PutOffer(ctx, model.Offer{ChatID: c2.ID, UserID: user.ID, Kind: model.OfferRoute,
				State: model.OfferPending, Exclusive: true, OfferedAt: time.Now()})
			if err != nil {
				return err
			}
			load, err = tx.RecountLoad(ctx, user.ID)
			return err
		})
		if err != nil {
			t.Errorf("node B: %v", err)
		}
		bDone <- load
	}()
	waitForLockWait(t, a)
	releaseA()
	if la, lb := <-aDone, <-bDone; la != 1 || lb != 2 {
		t.Errorf("loads counted: node A %d, node B %d; want 1, then 2", la, lb)
	}
	u, err := a.GetUser(ctx, user.ID)
	if err != nil || u.Load != 2 {
		t.Errorf("Load = %d, %v; want 2", u.Load, err)
	}
}
