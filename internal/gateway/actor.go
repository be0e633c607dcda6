package gateway

import (
	"reflect"

	"switchboard/internal/chat"
	"switchboard/internal/model"
)

// visitorActor is a visitor's chat.Actor in 64 bytes instead of 280 (the
// staff fields, User above all, are empty for visitors), since visitors'
// sockets are most sockets and an idle one should cost little (issue 6).
// An actor these fields cannot hold exactly (a field added to chat.Actor
// one day) is kept whole in full instead, so nothing is ever lost.
type visitorActor struct {
	full                                *chat.Actor
	party                               model.Party
	siteID, contactID, visitorSessionID int64
	name                                string
}

func compactVisitor(a chat.Actor) visitorActor {
	v := visitorActor{party: a.Party, siteID: a.SiteID, contactID: a.ContactID, visitorSessionID: a.VisitorSessionID, name: a.Name}
	if !reflect.DeepEqual(v.actor(), a) {
		return visitorActor{full: &a}
	}
	return v
}

// actor returns the chat.Actor (zero before authentication).
func (v *visitorActor) actor() chat.Actor {
	if v.full != nil {
		return *v.full
	}
	if v.party == "" {
		return chat.Actor{}
	}
	return chat.Actor{Party: v.party, SiteID: v.siteID, ContactID: v.contactID, VisitorSessionID: v.visitorSessionID, Name: v.name}
}

func (v *visitorActor) setName(name string) {
	if v.full != nil {
		v.full.Name = name
		return
	}
	v.name = name
}
