package httpapi

import (
	"encoding/json"
	"net/http"
)

// visitorAttributes merges the unverified attributes the widget sends
// (Switchboard('attributes', {...}) without a signed identity).
func (a *API) visitorAttributes(w http.ResponseWriter, r *http.Request) {
	bodyCall(w, r, http.StatusOK, false, func(_ int64, req struct {
		Attributes map[string]json.RawMessage `json:"attributes"`
	}) (map[string]any, error) {
		attrs, err := a.chat.SetVisitorAttributes(r.Context(), actorFrom(r), req.Attributes)
		if err != nil {
			return nil, err
		}
		return map[string]any{"attributes": attrs}, nil
	})
}
