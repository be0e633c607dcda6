package chat_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"switchboard/internal/bus"
	"switchboard/internal/chat"
	"switchboard/internal/model"
)

// A visitor's send appends with one statement that also reads the
// conversation (store.Tx.AppendToConversation), which returns the row
// without its tags. On the rare path where that row is published — a
// visitor writing to a closed ticket reopens it — the event must still
// carry the tags, and the message the chat the conversation had.
func TestVisitorReopenPublishesTags(t *testing.T) {
	var b bus.Bus
	f := newFixtureWith(t, func(c *chat.Config) { b = c.Bus })
	convEvents := make(chan bus.Event, 256)
	cancel, err := b.Subscribe(func(e bus.Event) {
		if e.Type == bus.TypeConversation {
			select {
			case convEvents <- e:
			default:
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()

	v := f.visitor()
	req := must(f.svc.RequestChat(f.ctx, v, chat.RequestChatInput{Body: "help", ClientID: "q1"}))
	conv := req.Conversation.ID
	f.online(f.agent)
	must(f.svc.Join(f.ctx, f.agent, conv))
	first := must(f.svc.Send(f.ctx, v, chat.SendInput{ConversationID: conv, ClientID: "v1", Body: "hello"}))
	if first.ChatID != req.Chat.Chat.ID || first.Seq == 0 {
		t.Fatalf("visitor message %+v: want chat %d and a seq", first, req.Chat.Chat.ID)
	}
	must(f.svc.SetTags(f.ctx, f.agent, conv, []string{"vip", "billing"}))
	ended := must(f.svc.End(f.ctx, f.agent, conv))
	if ended.Conversation.Status != model.StatusClosed {
		t.Fatalf("ended ticket status %s, want closed", ended.Conversation.Status)
	}

	f.clk.Advance(time.Minute) // tells the reopening's event from earlier ones
	later := must(f.svc.Send(f.ctx, v, chat.SendInput{ConversationID: conv, ClientID: "v2", Body: "one more thing"}))
	if later.ChatID != req.Chat.Chat.ID || later.Seq <= first.Seq {
		t.Fatalf("message after the end %+v: want the conversation's last chat %d and a later seq", later, req.Chat.Chat.ID)
	}
	// A retry of the same client id is the first ack, nothing new.
	again := must(f.svc.Send(f.ctx, v, chat.SendInput{ConversationID: conv, ClientID: "v2", Body: "one more thing"}))
	if again.ID != later.ID || again.Seq != later.Seq {
		t.Fatalf("retry answered %+v, want the first %+v", again, later)
	}

	// The reopening is published with the tags.
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e := <-convEvents:
			var frame struct {
				Data model.Conversation `json:"data"`
			}
			if err := json.Unmarshal(e.Frame, &frame); err != nil {
				t.Fatalf("conversation frame %s: %v", e.Frame, err)
			}
			if frame.Data.Status != model.StatusOpen || !frame.Data.UpdatedAt.Equal(later.CreatedAt) {
				continue // published before the reopening
			}
			if !slices.Equal(frame.Data.Tags, []string{"billing", "vip"}) {
				t.Fatalf("reopened conversation published with tags %v, want [billing vip]", frame.Data.Tags)
			}
			got := must(f.st.GetConversation(f.ctx, conv))
			if got.Status != model.StatusOpen || got.LastSeq != later.Seq {
				t.Fatalf("stored conversation %+v", got)
			}
			return
		case <-timeout:
			t.Fatal("no conversation event for the reopened ticket")
		}
	}
}
