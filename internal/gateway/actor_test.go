package gateway

import (
	"reflect"
	"testing"

	"switchboard/internal/chat"
	"switchboard/internal/model"
)

// TestVisitorActorIsLossless: a visitor's actor is stored compactly and
// comes back equal; one the compact form cannot hold is kept whole.
func TestVisitorActorIsLossless(t *testing.T) {
	a := chat.Actor{Party: model.PartyVisitor, SiteID: 3, ContactID: 7, VisitorSessionID: 11, Name: "Ada"}
	v := compactVisitor(a)
	if v.full != nil {
		t.Fatal("a plain visitor actor was not stored compactly")
	}
	if got := v.actor(); !reflect.DeepEqual(got, a) {
		t.Fatalf("round trip: %+v, want %+v", got, a)
	}
	v.setName("Grace")
	if v.actor().Name != "Grace" {
		t.Fatal("name not set")
	}

	odd := a
	odd.SiteIDs = []int64{3}
	odd.User.ID = 5
	w := compactVisitor(odd)
	if w.full == nil || !reflect.DeepEqual(w.actor(), odd) {
		t.Fatalf("an actor with staff fields: %+v", w.actor())
	}
	w.setName("Grace")
	if w.actor().Name != "Grace" || odd.Name != "Ada" {
		t.Fatal("name not set on the stored copy")
	}

	var zero visitorActor
	if !reflect.DeepEqual(zero.actor(), chat.Actor{}) {
		t.Fatal("before auth the actor must be zero")
	}
}
