package sqlstore

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"switchboard/internal/model"
	"switchboard/internal/store"
)

// The store's share of a visitor's send: one InTx that appends a text with
// a client id to the conversation's live chat, as chat.Send does
// ("append_to_conversation": AppendToConversation, which reads the row in
// the statement that takes the seq), and as it did before
// ("read+append": GetConversation, with its row lock in PostgreSQL, then
// AppendMessage). 64 conversations, 32 writers per CPU, as in
// BenchmarkAppendMessageParallel. Besides msgs/s it reports the process's
// CPU time per message (cpu-µs/msg), the figure to compare on a machine
// shared with other work: the single writer goroutine is what caps
// throughput, and its cost per message is most of this.
//
//	go test -run '^$' -bench SendPath -benchtime 20000x ./internal/store/sqlstore/
func BenchmarkSendPathParallel(b *testing.B) {
	for _, read := range []bool{false, true} {
		b.Run(sendPathName(read), func(b *testing.B) { benchSendPath(b, benchStore(b, Options{}), read) })
	}
}

// BenchmarkSendPathParallelPostgres is BenchmarkSendPathParallel on
// PostgreSQL (SWITCHBOARD_TEST_POSTGRES): bound by round trips, one per
// statement, since a batch runs its calls one after another.
func BenchmarkSendPathParallelPostgres(b *testing.B) {
	for _, read := range []bool{false, true} {
		b.Run(sendPathName(read), func(b *testing.B) { benchSendPath(b, benchPG(b, PostgresOptions{}), read) })
	}
}

func sendPathName(read bool) string {
	if read {
		return "read+append"
	}
	return "append_to_conversation"
}

func benchSendPath(b *testing.B, s *Store, read bool) {
	ctx := context.Background()
	convs := make([]model.Conversation, 64)
	err := s.InTx(ctx, func(tx store.Tx) error {
		site := model.Site{Key: "bench", Name: "bench", WidgetMode: model.ModeLive}
		if err := tx.CreateSite(ctx, &site); err != nil {
			return err
		}
		for i := range convs {
			c := model.Conversation{SiteID: site.ID, Channel: "widget", Status: model.StatusOpen,
				Priority: model.PriorityNormal, ChatState: model.ChatActive}
			if err := tx.CreateConversation(ctx, &c); err != nil {
				return err
			}
			ch := model.Chat{ConversationID: c.ID, State: model.ChatActive}
			if err := tx.CreateChat(ctx, &ch); err != nil {
				return err
			}
			c.ChatID = ch.ID
			if err := tx.UpdateConversation(ctx, c); err != nil {
				return err
			}
			convs[i] = c
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	var next, clientIDs atomic.Int64
	batches0, calls0 := s.batches.Load(), s.calls.Load()
	cpu0 := processCPU()
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		conv := convs[next.Add(1)%int64(len(convs))]
		for pb.Next() {
			clientID := fmt.Sprintf("v-%d", clientIDs.Add(1))
			err := s.InTx(ctx, func(tx store.Tx) error {
				m := model.Message{ConversationID: conv.ID, AuthorKind: model.PartyVisitor, AuthorName: "Visitor",
					ClientID: clientID, Kind: model.KindText, Visibility: model.Public, Body: "benchmark message",
					CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
				if !read {
					_, err := tx.AppendToConversation(ctx, &m)
					return err
				}
				c, err := tx.GetConversation(ctx, conv.ID)
				if err != nil {
					return err
				}
				m.ChatID = c.ChatID
				return tx.AppendMessage(ctx, &m)
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	reportRate(b, s, batches0, calls0)
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
}

// processCPU is the CPU time (user + system) this process has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestInboxQueriesUseIndexes guards the plans of the inbox's lists after
// migration 00012 took updated_at out of the contact and chat-state indexes
// (so that a message rewrites four index entries, not six): the lists that
// may hold most of a large database are read in order from an index,
// without a sort; a contact's conversations and a chat state's live ones
// are looked up by index, then sorted. SQLite plans without statistics
// here, so an empty database plans like a large one.
func TestInboxQueriesUseIndexes(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "switchboard.db"), Options{})
	for _, c := range []struct {
		name   string
		f      store.ConversationFilter
		want   []string // one of these indexes
		sorted bool     // read in order: no sort
	}{
		{"everything", store.ConversationFilter{}, []string{"conversations_updated"}, true},
		{"a site", store.ConversationFilter{SiteIDs: []int64{1}}, []string{"conversations_site_updated"}, true},
		{"a status, unassigned", store.ConversationFilter{Status: model.StatusOpen, Unassigned: true},
			[]string{"conversations_status_updated", "conversations_assignee_updated"}, true},
		{"a status, an assignee", store.ConversationFilter{Status: model.StatusOpen, AssigneeID: 5},
			[]string{"conversations_status_updated", "conversations_assignee_updated"}, true},
		{"a site, a status", store.ConversationFilter{SiteIDs: []int64{1}, Status: model.StatusClosed},
			[]string{"conversations_site_updated", "conversations_status_updated"}, true},
		{"an agent's live chats", store.ConversationFilter{AssigneeID: 5, ChatLive: true},
			[]string{"conversations_assignee_updated"}, true},
		{"a contact", store.ConversationFilter{SiteID: 1, ContactID: 7}, []string{"conversations_contact"}, false},
		{"a contact, in the agent's sites, closed", store.ConversationFilter{SiteIDs: []int64{1, 2}, ContactID: 7, Status: model.StatusClosed},
			[]string{"conversations_contact"}, false},
		{"a contact, unassigned", store.ConversationFilter{ContactID: 7, Unassigned: true}, []string{"conversations_contact"}, false},
		{"a contact, assigned", store.ConversationFilter{ContactID: 7, AssigneeID: 5, Cursor: encodeCursor(time.Now(), 9)},
			[]string{"conversations_contact"}, false},
		{"waiting chats", store.ConversationFilter{ChatState: model.ChatWaiting}, []string{"conversations_live"}, false},
	} {
		query, args, err := conversationsQuery(sqliteDialect, c.f, 51)
		if err != nil {
			t.Fatal(err)
		}
		plan := sqlitePlan(t, s.r, query, args...)
		text := strings.Join(plan, "\n")
		used := false
		for _, w := range c.want {
			used = used || strings.Contains(plan[0]+" ", "USING INDEX "+w+" ")
		}
		if !used || c.sorted && strings.Contains(text, "TEMP B-TREE") {
			t.Errorf("%s: plan of %q:\n%s\nwant an index of %v (sorted by it: %v)", c.name, query, text, c.want, c.sorted)
		}
	}
}
