// Package storetest is the contract suite of store.Store: the executable form
// of the guarantees documented in package store. Every implementation runs
// it from its own tests:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { ... a fresh, empty store ... })
//	}
//
// It is written only against the store interfaces, so SQLite and PostgreSQL
// run the very same tests. Times given to the store are UTC with microsecond
// precision (the model's promise), so read-back values compare exactly.
package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"switchboard/internal/apperr"
	"switchboard/internal/model"
	"switchboard/internal/store"
)

// Run runs the whole contract suite. newStore must return a fresh, empty
// store each time it is called and arrange (t.Cleanup) for it to be closed.
// Subtests run in parallel, each on its own store.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Sites", testSites},
		{"Users", testUsers},
		{"UserSites", testUserSites},
		{"AuthSessions", testAuthSessions},
		{"Contacts", testContacts},
		{"VisitorSessions", testVisitorSessions},
		{"Times", testTimes},
		{"Conversations", testConversations},
		{"Tags", testTags},
		{"ListConversationsFilters", testListConversationsFilters},
		{"ListConversationsPagination", testListConversationsPagination},
		{"ListConversationsLimits", testListConversationsLimits},
		{"Chats", testChats},
		{"Participants", testParticipants},
		{"AppendMessage", testAppendMessage},
		{"AppendToConversation", testAppendToConversation},
		{"ListMessages", testListMessages},
		{"Attachments", testAttachments},
		{"IdempotencyKey", testIdempotencyKey},
		{"SeqConcurrent", testSeqConcurrent},
		{"ReadMarks", testReadMarks},
		{"SiteRouting", testSiteRouting},
		{"Departments", testDepartments},
		{"DeleteDepartment", testDeleteDepartment},
		{"RoutingAgents", testRoutingAgents},
		{"Queue", testQueue},
		{"Offers", testOffers},
		{"RecountLoad", testRecountLoad},
		{"UserRoutingFields", testUserRoutingFields},
		{"SiteEmail", testSiteEmail},
		{"RawAttachment", testRawAttachment},
		{"EnqueueMail", testEnqueueMail},
		{"ClaimDueMail", testClaimDueMail},
		{"MarkMail", testMarkMail},
		{"MailRefs", testMailRefs},
		{"ConversationQuery", testConversationQuery},
		{"QuickReplies", testQuickReplies},
		{"Channels", testChannels},
		{"Identity", testIdentity},
		{"Visits", testVisits},
		{"SiteWidget", testSiteWidget},
		{"TxErrorRollsBack", testTxErrorRollsBack},
		{"TxErrorIsolatedInBatch", testTxErrorIsolatedInBatch},
		{"OnCommit", testOnCommit},
		{"OnCommitOrder", testOnCommitOrder},
		{"ContextCancelled", testContextCancelled},
		{"ReadYourWrites", testReadYourWrites},
		{"EpochAndPing", testEpochAndPing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

// t0 is the suite's reference time: UTC, microsecond precision.
var t0 = time.Date(2025, 3, 14, 9, 26, 53, 589793000, time.UTC)

// at returns t0 + d.
func at(d time.Duration) time.Time { return t0.Add(d) }

func ctxOf(t *testing.T) context.Context { return t.Context() }

// inTx runs fn in a transaction and fails the test on error.
func inTx(t *testing.T, s store.Store, fn func(tx store.Tx) error) {
	t.Helper()
	if err := s.InTx(ctxOf(t), fn); err != nil {
		t.Fatalf("InTx: %v", err)
	}
}

// txErr runs fn in a transaction and returns its error.
func txErr(t *testing.T, s store.Store, fn func(tx store.Tx) error) error {
	t.Helper()
	return s.InTx(ctxOf(t), fn)
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got: %+v\nwant: %+v", what, got, want)
	}
}

// must returns v or stops the test; only on the test's goroutine.
func must[T any](t *testing.T, what string) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

// try is must for code that runs inside an InTx function: that may run on
// the store's writer goroutine, where t.Fatal must not be called.
func try[T any](t *testing.T, what string) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
		return v
	}
}

// noErr reports err; safe inside InTx functions (it does not stop the test).
func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v", what, err)
	}
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: got no error, want %s", what, code)
		return
	}
	if got := apperr.CodeOf(err); got != code {
		t.Errorf("%s: got code %q (%v), want %q", what, got, err, code)
	}
}

// ---- fixtures

func newSite(t *testing.T, tx store.Tx, key string) model.Site {
	t.Helper()
	s := model.Site{Key: key, Name: "Site " + key, AllowedOrigins: []string{"https://" + key + ".example"},
		WidgetMode: model.ModeLive, CreatedAt: t0}
	noErr(t, "CreateSite", tx.CreateSite(ctxOf(t), &s))
	return s
}

func newUser(t *testing.T, tx store.Tx, email string) model.User {
	t.Helper()
	u := model.User{Email: email, Name: "User " + email, Role: model.RoleAgent, PasswordHash: "hash",
		Availability: model.Offline, Capacity: 3, CreatedAt: t0, UpdatedAt: t0}
	noErr(t, "CreateUser", tx.CreateUser(ctxOf(t), &u))
	return u
}

func newContact(t *testing.T, tx store.Tx, siteID int64) model.Contact {
	t.Helper()
	c := model.Contact{SiteID: siteID, Name: "Ada", Email: "ada@example.com",
		Attributes: map[string]string{"plan": "pro"}, CreatedAt: t0}
	noErr(t, "CreateContact", tx.CreateContact(ctxOf(t), &c))
	return c
}

func newConversation(t *testing.T, tx store.Tx, siteID, contactID int64) model.Conversation {
	t.Helper()
	c := model.Conversation{SiteID: siteID, ContactID: contactID, Channel: "widget", Status: model.StatusOpen,
		Priority: model.PriorityNormal, CreatedAt: t0, UpdatedAt: t0}
	noErr(t, "CreateConversation", tx.CreateConversation(ctxOf(t), &c))
	return c
}

// base is a site, a user, a contact and a conversation.
type base struct {
	site    model.Site
	user    model.User
	contact model.Contact
	conv    model.Conversation
}

func newBase(t *testing.T, s store.Store) base {
	t.Helper()
	var b base
	inTx(t, s, func(tx store.Tx) error {
		b.site = newSite(t, tx, "base")
		b.user = newUser(t, tx, "agent@example.com")
		b.contact = newContact(t, tx, b.site.ID)
		b.conv = newConversation(t, tx, b.site.ID, b.contact.ID)
		return nil
	})
	return b
}

// textMsg is a public visitor text message.
func textMsg(convID int64, body string, created time.Time) model.Message {
	return model.Message{ConversationID: convID, AuthorKind: model.PartyVisitor, AuthorID: 1, AuthorName: "Ada",
		Kind: model.KindText, Visibility: model.Public, Body: body, CreatedAt: created}
}

func appendMsg(t *testing.T, s store.Store, m model.Message) model.Message {
	t.Helper()
	inTx(t, s, func(tx store.Tx) error { return tx.AppendMessage(ctxOf(t), &m) })
	return m
}
