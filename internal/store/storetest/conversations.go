package storetest

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"slices"
	"testing"
	"time"

	"switchboard/internal/model"
	"switchboard/internal/store"
)

func testConversations(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	b := newBase(t, s)
	var ch model.Chat
	inTx(t, s, func(tx store.Tx) error {
		ch = model.Chat{ConversationID: b.conv.ID, State: model.ChatActive, RequestedAt: t0}
		return tx.CreateChat(ctx, &ch)
	})
	want := model.Conversation{SiteID: b.site.ID, ContactID: b.contact.ID, Channel: "email",
		Status: model.StatusPending, Priority: model.PriorityHigh, AssigneeID: b.user.ID, DepartmentID: 42,
		Tags: []string{"vip", "billing", "refund"}, LastSeq: 99, ChatID: ch.ID, ChatState: model.ChatActive,
		Preview: "hello", LastMessageAt: at(time.Minute), CreatedAt: at(time.Second), UpdatedAt: at(2 * time.Minute)}
	inTx(t, s, func(tx store.Tx) error { return tx.CreateConversation(ctx, &want) })
	if want.ID <= b.conv.ID {
		t.Fatalf("id not assigned: %d", want.ID)
	}
	if want.LastSeq != 0 {
		t.Errorf("CreateConversation left LastSeq = %d, want 0", want.LastSeq)
	}
	want.LastSeq = 0
	want.Tags = []string{"billing", "refund", "vip"}
	eq(t, "GetConversation", must[model.Conversation](t, "GetConversation")(s.GetConversation(ctx, want.ID)), want)

	// A bare conversation: no contact, assignee or tags; Tags non-nil.
	bare := model.Conversation{SiteID: b.site.ID, Channel: "widget", Status: model.StatusOpen,
		Priority: model.PriorityLow}
	inTx(t, s, func(tx store.Tx) error { return tx.CreateConversation(ctx, &bare) })
	bare.Tags = []string{}
	eq(t, "GetConversation bare", must[model.Conversation](t, "GetConversation")(s.GetConversation(ctx, bare.ID)), bare)

	// UpdateConversation writes status, priority, assignee, department,
	// chat id/state and updated_at, nothing else.
	appendMsg(t, s, textMsg(want.ID, "first", at(3*time.Minute)))
	before := must[model.Conversation](t, "GetConversation")(s.GetConversation(ctx, want.ID))
	upd := before
	upd.Status, upd.Priority, upd.AssigneeID, upd.DepartmentID = model.StatusClosed, model.PriorityUrgent, 0, 7
	upd.ChatID, upd.ChatState, upd.UpdatedAt = 0, model.ChatEnded, at(time.Hour)
	upd.SiteID, upd.ContactID, upd.Channel = 987654, 987654, "sms"
	upd.Tags, upd.LastSeq, upd.Preview, upd.LastMessageAt = []string{"x"}, 1000, "changed", at(10*time.Hour)
	upd.CreatedAt = at(10 * time.Hour)
	inTx(t, s, func(tx store.Tx) error { return tx.UpdateConversation(ctx, upd) })
	wantUpd := before
	wantUpd.Status, wantUpd.Priority, wantUpd.AssigneeID, wantUpd.DepartmentID = upd.Status, upd.Priority, 0, 7
	wantUpd.ChatID, wantUpd.ChatState, wantUpd.UpdatedAt = 0, model.ChatEnded, at(time.Hour)
	eq(t, "GetConversation after update", must[model.Conversation](t, "GetConversation")(s.GetConversation(ctx, want.ID)), wantUpd)

	_, err := s.GetConversation(ctx, 987654)
	wantCode(t, "GetConversation unknown", err, "conversation_not_found")
	err = txErr(t, s, func(tx store.Tx) error {
		return tx.UpdateConversation(ctx, model.Conversation{ID: 987654, Status: model.StatusOpen, Priority: model.PriorityLow})
	})
	wantCode(t, "UpdateConversation unknown", err, "conversation_not_found")
}

func testTags(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	b := newBase(t, s)
	var c2 model.Conversation
	inTx(t, s, func(tx store.Tx) error {
		c2 = newConversation(t, tx, b.site.ID, b.contact.ID)
		noErr(t, "SetTags", tx.SetTags(ctx, b.conv.ID, []string{"zeta", "alpha", "mid"}))
		noErr(t, "SetTags", tx.SetTags(ctx, c2.ID, []string{"alpha"}))
		return nil
	})
	get := func(id int64) []string {
		return must[model.Conversation](t, "GetConversation")(s.GetConversation(ctx, id)).Tags
	}
	eq(t, "tags sorted", get(b.conv.ID), []string{"alpha", "mid", "zeta"})

	tagged := func(tag string) []int64 {
		p := must[store.ConversationPage](t, "ListConversations")(s.ListConversations(ctx, store.ConversationFilter{Tag: tag}))
		var ids []int64
		for _, c := range p.Conversations {
			ids = append(ids, c.ID)
		}
		return sortedCopy(ids)
	}
	eq(t, "filter alpha", tagged("alpha"), []int64{b.conv.ID, c2.ID})
	eq(t, "filter zeta", tagged("zeta"), []int64{b.conv.ID})

	// SetTags replaces.
	inTx(t, s, func(tx store.Tx) error { return tx.SetTags(ctx, b.conv.ID, []string{"new"}) })
	eq(t, "tags replaced", get(b.conv.ID), []string{"new"})
	eq(t, "filter zeta after replace", tagged("zeta"), []int64(nil))
	eq(t, "filter alpha after replace", tagged("alpha"), []int64{c2.ID})
	inTx(t, s, func(tx store.Tx) error { return tx.SetTags(ctx, b.conv.ID, nil) })
	eq(t, "tags cleared", get(b.conv.ID), []string{})
	eq(t, "other conversation untouched", get(c2.ID), []string{"alpha"})

	err := txErr(t, s, func(tx store.Tx) error { return tx.SetTags(ctx, 987654, []string{"a"}) })
	wantCode(t, "SetTags unknown", err, "conversation_not_found")
}

// convSet is a set of conversations with varied fields, to check
// ListConversations against a filter evaluated in Go.
type convSet struct {
	sites    []model.Site
	contacts []model.Contact
	users    []model.User
	convs    []model.Conversation // as stored
}

func newConvSet(t *testing.T, s store.Store, n int) convSet {
	ctx := ctxOf(t)
	var cs convSet
	statuses := []model.TicketStatus{model.StatusOpen, model.StatusPending, model.StatusClosed}
	priorities := []model.Priority{model.PriorityLow, model.PriorityNormal, model.PriorityHigh, model.PriorityUrgent}
	states := []model.ChatState{"", model.ChatBot, model.ChatWaiting, model.ChatPending, model.ChatActive, model.ChatEnded}
	tagSets := [][]string{nil, {"billing"}, {"vip"}, {"billing", "vip"}, {"bug"}}
	inTx(t, s, func(tx store.Tx) error {
		for i := range 3 {
			cs.sites = append(cs.sites, newSite(t, tx, fmt.Sprintf("site%d", i)))
		}
		for i := range 4 {
			cs.contacts = append(cs.contacts, newContact(t, tx, cs.sites[i%3].ID))
		}
		for i := range 3 {
			cs.users = append(cs.users, newUser(t, tx, fmt.Sprintf("agent%d@example.com", i)))
		}
		for i := range n {
			c := model.Conversation{
				SiteID:    cs.sites[i%3].ID,
				ContactID: cs.contacts[i%4].ID,
				Channel:   "widget",
				Status:    statuses[i%3],
				Priority:  priorities[(i/2)%4],
				ChatState: states[(i/3)%6],
				Tags:      tagSets[i%5],
				CreatedAt: t0,
				// Several conversations share an UpdatedAt, so the id
				// tie-break of the order matters.
				UpdatedAt: at(time.Duration(i/3) * time.Second),
			}
			if i%4 != 0 {
				c.AssigneeID = cs.users[i%3].ID
			}
			noErr(t, "CreateConversation", tx.CreateConversation(ctx, &c))
			cs.convs = append(cs.convs, c)
		}
		return nil
	})
	return cs
}

// expect evaluates f in Go: ids of matching conversations, newest first.
func (cs convSet) expect(f store.ConversationFilter) []int64 {
	var match []model.Conversation
	for _, c := range cs.convs {
		switch {
		case f.SiteIDs != nil && !slices.Contains(f.SiteIDs, c.SiteID),
			f.SiteID != 0 && c.SiteID != f.SiteID,
			f.ContactID != 0 && c.ContactID != f.ContactID,
			f.Status != "" && c.Status != f.Status,
			f.ChatState != "" && c.ChatState != f.ChatState,
			f.ChatLive && !c.ChatState.Live(),
			f.AssigneeID != 0 && c.AssigneeID != f.AssigneeID,
			f.Unassigned && c.AssigneeID != 0,
			f.Tag != "" && !slices.Contains(c.Tags, f.Tag),
			f.Priority != "" && c.Priority != f.Priority:
			continue
		}
		match = append(match, c)
	}
	slices.SortFunc(match, func(a, b model.Conversation) int {
		if c := b.UpdatedAt.Compare(a.UpdatedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	ids := []int64{}
	for _, c := range match {
		ids = append(ids, c.ID)
	}
	return ids
}

// listAll walks every page of f with the given page size.
func listAll(t *testing.T, s store.Store, f store.ConversationFilter) (ids []int64, pages int) {
	t.Helper()
	ids = []int64{}
	seen := map[int64]bool{}
	for {
		p, err := s.ListConversations(ctxOf(t), f)
		if err != nil {
			t.Fatalf("ListConversations(%+v): %v", f, err)
		}
		pages++
		if f.Limit > 0 && len(p.Conversations) > f.Limit {
			t.Fatalf("page of %d conversations, limit %d", len(p.Conversations), f.Limit)
		}
		for _, c := range p.Conversations {
			if seen[c.ID] {
				t.Fatalf("conversation %d returned twice", c.ID)
			}
			seen[c.ID] = true
			ids = append(ids, c.ID)
			if c.Tags == nil {
				t.Fatalf("conversation %d has nil Tags", c.ID)
			}
		}
		if p.Next == "" {
			return ids, pages
		}
		if len(p.Conversations) == 0 {
			t.Fatalf("empty page with a Next cursor")
		}
		if pages > 1000 {
			t.Fatalf("pagination does not end")
		}
		f.Cursor = p.Next
	}
}

func testListConversationsFilters(t *testing.T, s store.Store) {
	cs := newConvSet(t, s, 60)
	site0, site1 := cs.sites[0].ID, cs.sites[1].ID
	filters := map[string]store.ConversationFilter{
		"none":                {},
		"SiteIDs":             {SiteIDs: []int64{site0, site1}},
		"SiteIDs empty":       {SiteIDs: []int64{}},
		"SiteIDs unknown":     {SiteIDs: []int64{987654}},
		"SiteID":              {SiteID: site1},
		"ContactID":           {ContactID: cs.contacts[2].ID},
		"Status":              {Status: model.StatusPending},
		"ChatState":           {ChatState: model.ChatWaiting},
		"ChatState ended":     {ChatState: model.ChatEnded},
		"ChatLive":            {ChatLive: true},
		"AssigneeID":          {AssigneeID: cs.users[1].ID},
		"Unassigned":          {Unassigned: true},
		"Tag":                 {Tag: "vip"},
		"Tag unknown":         {Tag: "nope"},
		"Priority":            {Priority: model.PriorityUrgent},
		"SiteIDs+Status":      {SiteIDs: []int64{site0}, Status: model.StatusOpen},
		"SiteID+SiteIDs":      {SiteIDs: []int64{site0}, SiteID: site1},
		"Status+Tag+Priority": {Status: model.StatusClosed, Tag: "billing", Priority: model.PriorityNormal},
		"ChatLive+Unassigned": {ChatLive: true, Unassigned: true},
		"Assignee+Tag+Site":   {AssigneeID: cs.users[2].ID, Tag: "billing", SiteID: cs.sites[2].ID},
		"Contact+ChatLive":    {ContactID: cs.contacts[1].ID, ChatLive: true},
		"everything": {SiteIDs: []int64{site0, site1, cs.sites[2].ID}, SiteID: site0, ContactID: cs.contacts[0].ID,
			Status: model.StatusOpen, ChatLive: true, AssigneeID: cs.users[0].ID, Tag: "billing",
			Priority: model.PriorityHigh},
	}
	nonEmpty := 0
	for name, f := range filters {
		want := cs.expect(f)
		if len(want) > 0 {
			nonEmpty++
		}
		got, _ := listAll(t, s, f)
		eq(t, "filter "+name, got, want)
	}
	if nonEmpty < 15 {
		t.Fatalf("test data too sparse: only %d filters match anything", nonEmpty)
	}

	// The page carries whole conversations, with tags.
	p := must[store.ConversationPage](t, "ListConversations")(s.ListConversations(ctxOf(t), store.ConversationFilter{Limit: 200}))
	byID := map[int64]model.Conversation{}
	for _, c := range cs.convs {
		c.Tags = normalTags(c.Tags)
		byID[c.ID] = c
	}
	for _, c := range p.Conversations {
		eq(t, fmt.Sprintf("listed conversation %d", c.ID), c, byID[c.ID])
	}
}

func normalTags(tags []string) []string {
	out := slices.Clone(tags)
	if out == nil {
		out = []string{}
	}
	slices.Sort(out)
	return out
}

func testListConversationsPagination(t *testing.T, s store.Store) {
	cs := newConvSet(t, s, 60)
	for _, f := range []store.ConversationFilter{
		{Limit: 7},
		{Limit: 1},
		{Limit: 60},
		{Limit: 59},
		{Limit: 5, Status: model.StatusOpen},
		{Limit: 3, Tag: "billing", SiteIDs: []int64{cs.sites[0].ID, cs.sites[2].ID}},
	} {
		want := cs.expect(f)
		got, pages := listAll(t, s, f)
		eq(t, fmt.Sprintf("all pages of %+v", f), got, want)
		wantPages := max(1, (len(want)+f.Limit-1)/f.Limit)
		if pages != wantPages && pages != wantPages+1 {
			t.Errorf("%+v: %d pages for %d conversations", f, pages, len(want))
		}
	}

	// A cursor stays valid while conversations move: a conversation updated
	// after the walk started moves to the front and is not seen again.
	ctx := ctxOf(t)
	first := must[store.ConversationPage](t, "ListConversations")(s.ListConversations(ctx, store.ConversationFilter{Limit: 10}))
	moved := cs.convs[0] // the oldest: on a later page
	moved.UpdatedAt = at(24 * time.Hour)
	inTx(t, s, func(tx store.Tx) error { return tx.UpdateConversation(ctx, moved) })
	rest, _ := listAll(t, s, store.ConversationFilter{Limit: 10, Cursor: first.Next})
	if slices.Contains(rest, moved.ID) {
		t.Errorf("conversation updated during the walk was listed again after the cursor")
	}
	if len(first.Conversations)+len(rest) != len(cs.convs)-1 {
		t.Errorf("walk saw %d+%d conversations, want %d", len(first.Conversations), len(rest), len(cs.convs)-1)
	}

	// Invalid cursors.
	for _, c := range []string{"garbage!!", base64.RawURLEncoding.EncodeToString([]byte("x:y")), "%%%"} {
		_, err := s.ListConversations(ctx, store.ConversationFilter{Cursor: c})
		wantCode(t, "invalid cursor "+c, err, "invalid_cursor")
	}
}

func testListConversationsLimits(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	cs := newConvSet(t, s, 210)
	count := func(limit int) (int, string) {
		p := must[store.ConversationPage](t, "ListConversations")(s.ListConversations(ctx, store.ConversationFilter{Limit: limit}))
		return len(p.Conversations), p.Next
	}
	if n, next := count(0); n != 50 || next == "" {
		t.Errorf("Limit 0: %d conversations (next %q), want 50 and a next page", n, next)
	}
	if n, _ := count(200); n != 200 {
		t.Errorf("Limit 200: %d conversations, want 200", n)
	}
	if n, _ := count(500); n != 200 {
		t.Errorf("Limit 500: %d conversations, want 200 (clamped)", n)
	}
	if n, _ := count(3); n != 3 {
		t.Errorf("Limit 3: %d conversations", n)
	}
	// The last page has no Next.
	p := must[store.ConversationPage](t, "ListConversations")(s.ListConversations(ctx,
		store.ConversationFilter{Limit: 5, SiteID: cs.sites[0].ID, Tag: "bug", Priority: model.PriorityUrgent}))
	want := cs.expect(store.ConversationFilter{SiteID: cs.sites[0].ID, Tag: "bug", Priority: model.PriorityUrgent})
	if len(want) > 5 || len(want) == 0 {
		t.Fatalf("test data: %d conversations match", len(want))
	}
	if p.Next != "" || len(p.Conversations) != len(want) {
		t.Errorf("last page: %d conversations, Next %q; want %d and no Next", len(p.Conversations), p.Next, len(want))
	}
}
