package server_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"switchboard/internal/server"
)

// putAvatar sends content as the multipart field "file" of
// PUT /api/v1/me/avatar with the given headers, and returns the status and
// the decoded JSON body.
func putAvatar(t *testing.T, hc *http.Client, base string, headers map[string]string, content []byte) (int, map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("file", "me.png")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(content)
	_ = mw.Close()
	h := map[string]string{"Content-Type": mw.FormDataContentType()}
	for k, v := range headers {
		h[k] = v
	}
	res, body := rawHTTP(t, hc, "PUT", base+"/api/v1/me/avatar", buf.Bytes(), h)
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("PUT avatar: status %d, body %q not JSON", res.StatusCode, body)
	}
	return res.StatusCode, out
}

func (c *staffClient) putAvatar(content []byte) (int, map[string]any) {
	c.t.Helper()
	return putAvatar(c.t, c.http, c.n.base, map[string]string{"X-CSRF-Token": c.csrf}, content)
}

// avatarKey is the key at the end of an avatar URL.
func avatarKey(t *testing.T, url string) string {
	t.Helper()
	key, ok := strings.CutPrefix(url, "/api/v1/avatars/")
	if !ok || len(key) != 32 {
		t.Fatalf("avatar_url %q is not /api/v1/avatars/{key}", url)
	}
	return key
}

// TestAvatarsFS: profile pictures on SQLite with the file blob store.
func TestAvatarsFS(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	testAvatars(t, n, func(key string) bool {
		_, err := os.Stat(filepath.Join(dir, "blobs", key[0:2], key[2:4], key))
		return err == nil
	})

	// An attachment's blob (an image, even) is never served as an avatar,
	// though its key has the same form.
	v := n.newVisitor("demo", "")
	vw, _ := v.ws()
	conv := requestChat(t, vw, "a picture for you")
	if st, body := v.upload(conv, "cat.png", pngBytes(t)); st != 201 {
		t.Fatalf("upload attachment: %d %s", st, body)
	}
	keys, _ := filepath.Glob(filepath.Join(dir, "blobs", "*", "*", "*"))
	if len(keys) == 0 {
		t.Fatal("no attachment blob on disk")
	}
	for _, k := range keys {
		if res, _ := rawHTTP(t, nil, "GET", n.base+"/api/v1/avatars/"+filepath.Base(k), nil, nil); res.StatusCode != 404 {
			t.Errorf("attachment blob served as an avatar: %d", res.StatusCode)
		}
	}
}

// TestAvatarsPostgres: the same on PostgreSQL with the database blob store
// (--blobs db), so every node of a cluster serves every picture.
func TestAvatarsPostgres(t *testing.T) {
	dsn := postgresDB(t)
	n := startNode(t, "", func(c *server.Config) { c.StoreURL = dsn })
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	testAvatars(t, n, func(key string) bool {
		var c int
		if err := db.QueryRow("SELECT COUNT(*) FROM blob_objects WHERE key = $1", key).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c > 0
	})
}

// testAvatars: upload, public fetch with its headers, the participant view
// the widget gets, replacement deleting the old blob, removal, bad input
// and authorization — all over HTTP and WebSocket.
func testAvatars(t *testing.T, n *node, stored func(key string) bool) {
	n.seed()
	alice := n.login("alice@demo.test", "demo-agent-pass")
	if u, ok := alice.user["avatar_url"]; !ok || u != "" {
		t.Fatalf("a new user's avatar_url = %v (present %v), want empty", u, ok)
	}

	// Upload.
	pic := pngBytes(t)
	st, u := alice.putAvatar(pic)
	if st != 200 {
		t.Fatalf("PUT avatar: %d %v", st, u)
	}
	url1, _ := u["avatar_url"].(string)
	key1 := avatarKey(t, url1)
	if !stored(key1) {
		t.Fatalf("blob %s not stored", key1)
	}
	var me struct {
		User map[string]any `json:"user"`
	}
	alice.do("GET", "/api/v1/me", nil, &me)
	if me.User["avatar_url"] != url1 {
		t.Fatalf("GET /me avatar_url = %v, want %s", me.User["avatar_url"], url1)
	}

	// Public fetch: no credentials, from another origin.
	res, body := rawHTTP(t, nil, "GET", n.base+url1, nil, map[string]string{"Origin": "https://shop.example"})
	if res.StatusCode != 200 || !bytes.Equal(body, pic) {
		t.Fatalf("GET %s: %d, %d bytes (want %d)", url1, res.StatusCode, len(body), len(pic))
	}
	for h, want := range map[string]string{
		"Content-Type":                 "image/png",
		"X-Content-Type-Options":       "nosniff",
		"Cache-Control":                "public, max-age=31536000, immutable",
		"Cross-Origin-Resource-Policy": "cross-origin",
		"Access-Control-Allow-Origin":  "*",
	} {
		if got := res.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	if res.Header.Get("Set-Cookie") != "" {
		t.Errorf("avatar response sets a cookie")
	}
	// Revalidation by ETag costs no bytes.
	if res, body := rawHTTP(t, nil, "GET", n.base+url1, nil, map[string]string{"If-None-Match": res.Header.Get("ETag")}); res.StatusCode != 304 || len(body) != 0 {
		t.Errorf("If-None-Match: %d, %d bytes", res.StatusCode, len(body))
	}

	// The widget sees it on the participant who joins.
	aw := alice.ws()
	aw.send("availability", map[string]any{"availability": "available"})
	v := n.newVisitor("demo", "")
	vw, _ := v.ws()
	conv := requestChat(t, vw, "hi")
	aw.waitEvent("chat", func(f frame) bool { return f.ConversationID == conv })
	if f := aw.send("join", map[string]any{"conversation_id": conv}); f.Type != "ack" {
		t.Fatalf("join: %+v", f)
	}
	vw.waitEvent("chat", func(f frame) bool {
		var cv struct {
			Participants []struct {
				UserID    int64  `json:"user_id"`
				AvatarURL string `json:"avatar_url"`
			} `json:"participants"`
		}
		_ = json.Unmarshal(f.Data, &cv)
		for _, p := range cv.Participants {
			if p.UserID == alice.userID() && p.AvatarURL == url1 {
				return true
			}
		}
		return false
	})

	// Replace: a new key; the old one is gone from the store and the route.
	jpeg := append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, bytes.Repeat([]byte{1}, 100)...)
	st, u = alice.putAvatar(jpeg)
	if st != 200 {
		t.Fatalf("replace: %d %v", st, u)
	}
	url2 := u["avatar_url"].(string)
	key2 := avatarKey(t, url2)
	if key2 == key1 {
		t.Fatal("replacement kept the key: caches would show the old picture")
	}
	if stored(key1) {
		t.Errorf("old blob %s not deleted", key1)
	}
	if res, _ := rawHTTP(t, nil, "GET", n.base+url1, nil, nil); res.StatusCode != 404 {
		t.Errorf("old URL: %d, want 404", res.StatusCode)
	}
	if res, _ := rawHTTP(t, nil, "GET", n.base+url2, nil, nil); res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/jpeg" {
		t.Errorf("new URL: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}

	// Bad input: nothing changes.
	for _, c := range []struct {
		name    string
		content []byte
		status  int
		code    string
	}{
		{"pdf", []byte("%PDF-1.4\n1 0 obj\n"), 400, "file_type_not_allowed"},
		{"text", []byte("just text"), 400, "file_type_not_allowed"},
		{"svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), 400, "file_type_not_allowed"},
		{"html", []byte("<html><script>alert(1)</script>"), 400, "file_type_not_allowed"},
		{"empty", nil, 400, "empty_file"},
		{"too big", append(pngBytes(t), make([]byte, 1<<20)...), 413, "file_too_large"},
	} {
		st, p := alice.putAvatar(c.content)
		if st != c.status || p["code"] != c.code {
			t.Errorf("%s: %d %v, want %d %s", c.name, st, p["code"], c.status, c.code)
		}
	}
	alice.do("GET", "/api/v1/me", nil, &me)
	if me.User["avatar_url"] != url2 {
		t.Errorf("after refused uploads avatar_url = %v, want %s", me.User["avatar_url"], url2)
	}
	// Not multipart.
	res, body = rawHTTP(t, alice.http, "PUT", n.base+"/api/v1/me/avatar", pic,
		map[string]string{"X-CSRF-Token": alice.csrf, "Content-Type": "image/png"})
	if res.StatusCode != 415 || !strings.Contains(string(body), "unsupported_media_type") {
		t.Errorf("raw body: %d %s", res.StatusCode, body)
	}

	// Authorization: not signed in, a visitor's token, no CSRF token.
	if st, p := putAvatar(t, nil, n.base, nil, pic); st != 401 {
		t.Errorf("anonymous: %d %v", st, p)
	}
	if st, p := putAvatar(t, nil, n.base, map[string]string{"Authorization": "Bearer " + v.token}, pic); st != 401 {
		t.Errorf("visitor token: %d %v", st, p)
	}
	if st, p := putAvatar(t, alice.http, n.base, nil, pic); st != 403 || p["code"] != "csrf_failed" {
		t.Errorf("no CSRF: %d %v", st, p)
	}
	if res, _ := rawHTTP(t, nil, "DELETE", n.base+"/api/v1/me/avatar", nil, map[string]string{"Authorization": "Bearer " + v.token}); res.StatusCode != 401 {
		t.Errorf("visitor DELETE: %d", res.StatusCode)
	}
	// The public route serves current avatars only: malformed and unknown
	// keys are 404 (attachments' keys: see TestAvatarsFS).
	for _, k := range []string{"nope", "../../etc/passwd", strings.Repeat("0", 32), strings.ToUpper(key2)} {
		if res, body := rawHTTP(t, nil, "GET", n.base+"/api/v1/avatars/"+k, nil, nil); res.StatusCode != 404 ||
			!strings.Contains(string(body), "not_found") {
			t.Errorf("GET avatar %q: %d %s", k, res.StatusCode, body)
		}
	}
	// Another user's pictures are their own: bob has none.
	bob := n.login("bob@demo.test", "demo-agent-pass")
	if bob.user["avatar_url"] != "" {
		t.Errorf("bob avatar_url = %v", bob.user["avatar_url"])
	}

	// Remove: gone from the user, the route and the store; removing again is fine.
	var out map[string]any
	if st := alice.do("DELETE", "/api/v1/me/avatar", nil, &out); st != 200 || out["avatar_url"] != "" {
		t.Fatalf("DELETE: %d %v", st, out)
	}
	if stored(key2) {
		t.Errorf("removed blob %s not deleted", key2)
	}
	if res, _ := rawHTTP(t, nil, "GET", n.base+url2, nil, nil); res.StatusCode != 404 {
		t.Errorf("removed URL: %d, want 404", res.StatusCode)
	}
	if st := alice.do("DELETE", "/api/v1/me/avatar", nil, &out); st != 200 {
		t.Errorf("DELETE again: %d", st)
	}
}
