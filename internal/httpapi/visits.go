package httpapi

import (
	"net/http"

	"switchboard/internal/chat"
)

// GeoHeaders names the request headers a trusted reverse proxy sets with
// the client's location. Only set them when such a proxy is in front and
// strips these headers from clients: anyone can send them otherwise.
type GeoHeaders struct {
	Country string // e.g. CF-IPCountry (ISO 3166-1 alpha-2)
	City    string // e.g. CF-IPCity
}

// noteGeo passes a visitor request's location headers to their visit
// history, when the operator configured them.
func (a *API) noteGeo(r *http.Request, actor chat.Actor) {
	h := a.opts.Geo
	if h.Country == "" && h.City == "" {
		return
	}
	var g chat.Geo
	if h.Country != "" {
		g.Country = r.Header.Get(h.Country)
	}
	if h.City != "" {
		g.City = r.Header.Get(h.City)
	}
	if g != (chat.Geo{}) {
		a.chat.NoteGeo(actor, g)
	}
}

// contactVisits is a contact's visit history for the console's sidebar:
// staff of the contact's site only (others get contact_not_found).
func (a *API) contactVisits(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	v, err := a.chat.ContactVisits(r.Context(), actorFrom(r), id)
	respond(w, r, v, err)
}
