package httpapi

import (
	"net/http"
	"time"

	"switchboard/internal/chat"
)

// avatarBodySlack is what a multipart body may carry besides the picture
// (boundaries, part headers, small other fields).
const avatarBodySlack = 64 << 10

// setAvatar takes the signed-in user's profile picture as multipart/form-data
// (field "file") and answers with the updated user.
func (a *API) setAvatar(w http.ResponseWriter, r *http.Request) {
	// The blob store refuses a picture over the limit as file_too_large; this
	// only bounds everything else a client might send around it.
	r.Body = http.MaxBytesReader(w, r.Body, chat.MaxAvatarBytes+avatarBodySlack)
	part, err := filePart(r)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	u, err := a.chat.SetAvatar(r.Context(), actorFrom(r), part.FileName(), part)
	respond(w, r, u, err)
}

func (a *API) removeAvatar(w http.ResponseWriter, r *http.Request) {
	u, err := a.chat.RemoveAvatar(r.Context(), actorFrom(r))
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, u)
}

// avatar serves a profile picture publicly: the widget shows it on the
// customer's site, without credentials. The key is random and changes with
// the picture, so the response is cacheable forever; only current avatars
// are served (never other blobs), always as the sniffed image type with
// nosniff, and with a resource policy that lets other origins embed it.
func (a *API) avatar(w http.ResponseWriter, r *http.Request) {
	rc, obj, err := a.chat.OpenAvatar(r.Context(), r.PathValue("key"))
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	defer rc.Close()
	h := w.Header()
	h.Set("Content-Type", obj.ContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("ETag", `"`+obj.Key+`"`) // the key names these bytes for good
	http.ServeContent(w, r, "", time.Time{}, rc)
}
