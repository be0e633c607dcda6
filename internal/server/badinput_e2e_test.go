package server_test

// End-to-end tests of the rule "Bad input gets a clear error and loses
// nothing": every malformed frame or request gets a typed error frame or an
// application/problem+json response with a stable code, never a panic, a
// hang, a partial write or a silent drop. Everything runs against a real
// node on loopback, with a real WebSocket client and real HTTP.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"switchboard/internal/protocol"
	"switchboard/internal/server"
)

// ---------------------------------------------------------------------------
// Helpers shared by badinput_e2e_test.go and authz_e2e_test.go.

// problemBody is an RFC 9457 problem as the API writes it.
type problemBody struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Code   string `json:"code"`
}

// rawHTTP sends a request with a raw body (nil for none) and returns the
// response (body already read and closed) and its body.
func rawHTTP(t testing.TB, hc *http.Client, method, url string, body []byte, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return res, raw
}

// wantProblem asserts that a response is a problem+json with status and code.
func wantProblem(t testing.TB, what string, res *http.Response, body []byte, status int, code string) {
	t.Helper()
	if res.StatusCode != status {
		t.Fatalf("%s: status %d, want %d (body %s)", what, res.StatusCode, status, body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("%s: Content-Type %q, want application/problem+json (body %s)", what, ct, body)
	}
	var p problemBody
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("%s: problem body %q is not JSON: %v", what, body, err)
	}
	if p.Code != code || p.Status != status {
		t.Fatalf("%s: problem %+v, want status %d code %q", what, p, status, code)
	}
}

// rawDo sends a raw body as the signed-in staff user. It adds the CSRF token
// unless headers already name X-CSRF-Token ("" to send none).
func (c *staffClient) rawDo(method, path, contentType string, body []byte, headers map[string]string) (*http.Response, []byte) {
	c.t.Helper()
	h := map[string]string{}
	if contentType != "" {
		h["Content-Type"] = contentType
	}
	if _, ok := headers["X-CSRF-Token"]; !ok {
		h["X-CSRF-Token"] = c.csrf
	}
	for k, v := range headers {
		if v != "" {
			h[k] = v
		} else {
			delete(h, k)
		}
	}
	return rawHTTP(c.t, c.http, method, c.n.base+path, body, h)
}

// doProblem sends a JSON request as staff and asserts a problem response.
func (c *staffClient) doProblem(method, path string, body any, status int, code string) {
	c.t.Helper()
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			c.t.Fatal(err)
		}
	}
	res, raw := c.rawDo(method, path, "application/json", b, nil)
	wantProblem(c.t, method+" "+path, res, raw, status, code)
}

// rawDo sends a raw body with the visitor's token and origin.
func (v *visitor) rawDo(method, path, contentType string, body []byte) (*http.Response, []byte) {
	v.t.Helper()
	h := map[string]string{"Authorization": "Bearer " + v.token}
	if v.origin != "" {
		h["Origin"] = v.origin
	}
	if contentType != "" {
		h["Content-Type"] = contentType
	}
	return rawHTTP(v.t, v.http, method, v.n.base+path, body, h)
}

// doProblem sends a JSON request as the visitor and asserts a problem response.
func (v *visitor) doProblem(method, path string, body any, status int, code string) {
	v.t.Helper()
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			v.t.Fatal(err)
		}
	}
	res, raw := v.rawDo(method, path, "application/json", b)
	wantProblem(v.t, method+" "+path, res, raw, status, code)
}

// wantWSError asserts that a reply frame is an error with code.
func wantWSError(t testing.TB, what string, f frame, code string) {
	t.Helper()
	if f.Type != "error" || f.Error == nil {
		t.Fatalf("%s: got %s %s, want error %q", what, f.Type, f.Data, code)
	}
	if f.Error.Code != code {
		t.Fatalf("%s: error %q (%s), want %q", what, f.Error.Code, f.Error.Message, code)
	}
}

// wantAck asserts that a reply frame is an ack.
func wantAck(t testing.TB, what string, f frame) {
	t.Helper()
	if f.Type != "ack" {
		t.Fatalf("%s: got %s %+v, want ack", what, f.Type, f.Error)
	}
}

// nextError waits for the next error frame that no pending command claims
// (frames whose id could not be read, or raw frames sent with an id the
// client did not register), skipping events.
func nextError(t testing.TB, w *wsClient) frame {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case f := <-w.events:
			if f.Type == "error" {
				return f
			}
		case <-w.closed:
			// The reader may have queued the error just before the close.
			for {
				select {
				case f := <-w.events:
					if f.Type == "error" {
						return f
					}
				default:
					t.Fatalf("socket closed with %d before an error frame arrived", w.closeStatus())
					return frame{}
				}
			}
		case <-deadline:
			t.Fatal("no error frame arrived")
			return frame{}
		}
	}
}

// pingOK checks that the socket still answers commands.
func pingOK(t testing.TB, w *wsClient, after string) {
	t.Helper()
	f, err := w.trySend("ping", nil, 10*time.Second)
	if err != nil {
		t.Fatalf("ping after %s: %v", after, err)
	}
	wantAck(t, "ping after "+after, f)
}

// dialVisitorWS opens an unauthenticated visitor socket.
func dialVisitorWS(t *testing.T, n *node, origin string) *wsClient {
	t.Helper()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	w, err := dialWS(t, strings.Replace(n.base, "http", "ws", 1)+"/ws/visitor", h, nil)
	if err != nil {
		t.Fatalf("dial visitor: %v", err)
	}
	return w
}

// sendUnclaimed writes a command with an id the client does not wait on, so
// its reply lands in the event channel (use with nextError when the server
// closes the socket right after replying).
func sendUnclaimed(t testing.TB, w *wsClient, id, typ string, data any) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"id": id, "type": typ, "data": data})
	if err := w.raw(b); err != nil {
		t.Fatalf("write %s: %v", typ, err)
	}
}

// staffHistory returns a conversation's whole timeline as staff see it.
func staffHistory(t testing.TB, c *staffClient, conv int64) []message {
	t.Helper()
	var h struct {
		Messages []message `json:"messages"`
	}
	if st := c.do("GET", fmt.Sprintf("/api/v1/conversations/%d/messages?limit=1000", conv), nil, &h); st != 200 {
		t.Fatalf("staff history of %d: status %d", conv, st)
	}
	return h.Messages
}

// siteID returns the id of the site with key, as seen by c.
func siteID(t testing.TB, c *staffClient, key string) int64 {
	t.Helper()
	var out struct {
		Sites []struct {
			ID  int64  `json:"id"`
			Key string `json:"key"`
		} `json:"sites"`
	}
	if st := c.do("GET", "/api/v1/sites", nil, &out); st != 200 {
		t.Fatalf("list sites: %d", st)
	}
	for _, s := range out.Sites {
		if s.Key == key {
			return s.ID
		}
	}
	t.Fatalf("no site with key %q in %+v", key, out.Sites)
	return 0
}

// createSite creates a site as admin and returns its id.
func createSite(t testing.TB, admin *staffClient, name, key string) int64 {
	t.Helper()
	var s struct {
		ID int64 `json:"id"`
	}
	if st := admin.do("POST", "/api/v1/sites", map[string]any{"name": name, "key": key}, &s); st != 201 {
		t.Fatalf("create site %s: status %d", key, st)
	}
	return s.ID
}

// createUser creates a staff user as admin and returns its id.
func createUser(t testing.TB, admin *staffClient, email, password, role string, sites ...int64) int64 {
	t.Helper()
	if sites == nil {
		sites = []int64{}
	}
	var u struct {
		ID int64 `json:"id"`
	}
	body := map[string]any{"email": email, "name": role + " " + email, "password": password, "role": role, "site_ids": sites}
	if st := admin.do("POST", "/api/v1/users", body, &u); st != 201 {
		t.Fatalf("create user %s: status %d", email, st)
	}
	return u.ID
}

// ---------------------------------------------------------------------------
// WebSocket frames.

// TestBadInputFrames sends malformed frames on an authenticated visitor
// socket: each gets exactly the documented error frame, and the socket keeps
// working afterwards.
func TestBadInputFrames(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	v := n.newVisitor("demo", "")
	w, _ := v.ws()

	long := strings.Repeat("x", protocol.MaxIDLen+1)
	cases := []struct {
		name  string
		frame string
		code  string
		id    string // the id the error must carry ("" when it could not be read)
	}{
		{"invalid JSON", `{"id":"j1","type":`, "invalid_json", ""},
		{"not JSON at all", `hello`, "invalid_json", ""},
		{"JSON array", `[1,2,3]`, "invalid_json", ""},
		{"JSON string", `"ping"`, "invalid_json", ""},
		{"JSON number", `42`, "invalid_json", ""},
		{"trailing garbage", `{"id":"t1","type":"ping"} garbage`, "invalid_json", ""},
		{"two objects", `{"id":"t2","type":"ping"}{"id":"t3","type":"ping"}`, "invalid_json", ""},
		{"missing id", `{"type":"ping"}`, "missing_id", ""},
		{"empty id", `{"id":"","type":"ping"}`, "missing_id", ""},
		{"id too long", `{"id":"` + long + `","type":"ping"}`, "id_too_long", ""},
		{"id not a string", `{"id":7,"type":"ping"}`, "invalid_json", ""},
		{"missing type", `{"id":"m1"}`, "missing_type", "m1"},
		{"unknown type", `{"id":"u1","type":"launch_rockets"}`, "unknown_command", "u1"},
		{"staff command from a visitor", `{"id":"u2","type":"join","data":{"conversation_id":1}}`, "unknown_command", "u2"},
		{"unknown field in data", `{"id":"d1","type":"typing","data":{"conversation_id":1,"typing":true,"extra":1}}`, "invalid_data", "d1"},
		{"wrong field type", `{"id":"d2","type":"send","data":{"conversation_id":"one","client_id":"x","body":"hi"}}`, "invalid_data", "d2"},
		{"data not an object", `{"id":"d3","type":"read","data":[1]}`, "invalid_data", "d3"},
	}
	for _, c := range cases {
		if err := w.raw([]byte(c.frame)); err != nil {
			t.Fatalf("%s: write: %v", c.name, err)
		}
		f := nextError(t, w)
		wantWSError(t, c.name, f, c.code)
		if f.ID != c.id {
			t.Fatalf("%s: error id %q, want %q", c.name, f.ID, c.id)
		}
		if f.Error.Message == "" {
			t.Fatalf("%s: error without a message", c.name)
		}
		pingOK(t, w, c.name)
	}

	// A binary frame is refused, and the socket stays usable.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.conn.Write(ctx, websocket.MessageBinary, []byte(`{"id":"b1","type":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	wantWSError(t, "binary frame", nextError(t, w), "binary_not_supported")
	pingOK(t, w, "binary frame")

	// A frame of exactly MaxFrameBytes is still accepted.
	exact := []byte(`{"id":"big-ok","type":"ping"}`)
	exact = append(exact, bytes.Repeat([]byte(" "), protocol.MaxFrameBytes-len(exact))...)
	if err := w.raw(exact); err != nil {
		t.Fatal(err)
	}
	for {
		f := w.waitEvent("ack", func(frame) bool { return true })
		if f.ID == "big-ok" {
			break
		}
	}
	pingOK(t, w, "a frame of exactly MaxFrameBytes")
}

// TestBadInputInvalidUTF8: a text frame that is not UTF-8 gets either an
// invalid_utf8 error frame (and the socket keeps working) or a 1007 close,
// never silence or a crash.
func TestBadInputInvalidUTF8(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	v := n.newVisitor("demo", "")
	w, _ := v.ws()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.conn.Write(ctx, websocket.MessageText, []byte("{\"id\":\"u8\",\"type\":\"ping\",\"data\":{\"x\":\"\xff\xfe\"}}")); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-w.events:
		wantWSError(t, "invalid UTF-8", f, "invalid_utf8")
		t.Log("invalid UTF-8 answered with an invalid_utf8 error frame")
		pingOK(t, w, "invalid UTF-8")
	case <-w.closed:
		if code := w.closeStatus(); code != protocol.CloseInvalidData {
			t.Fatalf("invalid UTF-8 closed the socket with %d, want 1007 or an invalid_utf8 error", code)
		}
		t.Log("invalid UTF-8 closed the socket with 1007")
	case <-time.After(10 * time.Second):
		t.Fatal("no answer to a frame with invalid UTF-8")
	}
	// The node is fine: a new socket works.
	w2, _ := v.ws()
	pingOK(t, w2, "a new socket")
}

// TestBadInputFrameTooBig: a frame over MaxFrameBytes closes the socket with 1009.
func TestBadInputFrameTooBig(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	v := n.newVisitor("demo", "")
	w, _ := v.ws()
	big := []byte(`{"id":"big","type":"ping"}`)
	big = append(big, bytes.Repeat([]byte(" "), protocol.MaxFrameBytes+1-len(big))...)
	_ = w.raw(big) // the server may close while we write
	if code := w.waitClosed(); code != protocol.CloseTooBig {
		t.Fatalf("close code %d, want %d", code, protocol.CloseTooBig)
	}
	// Only that socket: a new one works.
	w2, _ := v.ws()
	pingOK(t, w2, "a new socket")
}

// TestBadInputTrailingJSONDelimiter: a frame or body followed by a stray
// closing delimiter is trailing garbage too.
func TestBadInputTrailingJSONDelimiter(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	v := n.newVisitor("demo", "")
	w, _ := v.ws()
	for _, tail := range []string{"}", "]"} {
		if err := w.raw([]byte(`{"id":"tr","type":"ping"}` + tail)); err != nil {
			t.Fatal(err)
		}
		f := w.drain(300 * time.Millisecond)
		if len(f) != 1 || f[0].Type != "error" || f[0].Error.Code != "invalid_json" {
			t.Fatalf("frame with trailing %q: got %+v, want one invalid_json error", tail, f)
		}
	}
	alice := n.login("alice@demo.test", "demo-agent-pass")
	for _, tail := range []string{"}", "]"} {
		res, body := alice.rawDo("PUT", "/api/v1/me/availability", "application/json", []byte(`{"availability":"away"}`+tail), nil)
		wantProblem(t, "body with trailing "+tail, res, body, 400, "invalid_json")
	}
	var me struct {
		User struct{ Availability string } `json:"user"`
	}
	alice.do("GET", "/api/v1/me", nil, &me)
	if me.User.Availability != "offline" {
		t.Fatalf("a refused body changed availability to %q", me.User.Availability)
	}
}

// TestBadInputVisitorAuth: the visitor socket's first frame must be a valid
// auth; everything else is answered, then the socket is closed with 4001.
func TestBadInputVisitorAuth(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	v := n.newVisitor("demo", "")

	t.Run("command before auth", func(t *testing.T) {
		w := dialVisitorWS(t, n, "")
		sendUnclaimed(t, w, "early", "ping", nil)
		f := nextError(t, w)
		wantWSError(t, "ping before auth", f, "auth_required")
		if f.ID != "early" {
			t.Fatalf("error id %q, want early", f.ID)
		}
		if code := w.waitClosed(); code != protocol.CloseUnauthenticated {
			t.Fatalf("close code %d, want 4001", code)
		}
	})
	t.Run("wrong token", func(t *testing.T) {
		w := dialVisitorWS(t, n, "")
		sendUnclaimed(t, w, "a1", "auth", map[string]any{"token": v.token[:len(v.token)-1] + "x"})
		wantWSError(t, "wrong token", nextError(t, w), "unauthenticated")
		if code := w.waitClosed(); code != protocol.CloseUnauthenticated {
			t.Fatalf("close code %d, want 4001", code)
		}
	})
	t.Run("empty token", func(t *testing.T) {
		w := dialVisitorWS(t, n, "")
		sendUnclaimed(t, w, "a2", "auth", map[string]any{"token": ""})
		wantWSError(t, "empty token", nextError(t, w), "unauthenticated")
		if code := w.waitClosed(); code != protocol.CloseUnauthenticated {
			t.Fatalf("close code %d, want 4001", code)
		}
	})
	t.Run("auth with an unknown field", func(t *testing.T) {
		w := dialVisitorWS(t, n, "")
		sendUnclaimed(t, w, "a3", "auth", map[string]any{"token": v.token, "admin": true})
		wantWSError(t, "auth with unknown field", nextError(t, w), "invalid_data")
		if code := w.waitClosed(); code != protocol.CloseUnauthenticated {
			t.Fatalf("close code %d, want 4001", code)
		}
	})
	t.Run("auth twice", func(t *testing.T) {
		w, _ := v.ws()
		wantWSError(t, "second auth", w.send("auth", map[string]any{"token": v.token}), "already_authenticated")
		pingOK(t, w, "second auth")
	})
	t.Run("malformed frame before auth does not authenticate", func(t *testing.T) {
		w := dialVisitorWS(t, n, "")
		if err := w.raw([]byte(`{"id":"x","type":"auth","data":{"token":"` + v.token + `"}} junk`)); err != nil {
			t.Fatal(err)
		}
		wantWSError(t, "malformed auth", nextError(t, w), "invalid_json")
		// Still unauthenticated: a command is refused and the socket closed.
		sendUnclaimed(t, w, "after", "ping", nil)
		wantWSError(t, "ping after malformed auth", nextError(t, w), "auth_required")
		if code := w.waitClosed(); code != protocol.CloseUnauthenticated {
			t.Fatalf("close code %d, want 4001", code)
		}
	})
}

// TestBadInputAuthTimeout: a visitor socket that never authenticates is
// closed with 4001 once the auth timeout passes.
func TestBadInputAuthTimeout(t *testing.T) {
	n := startNode(t, "", func(c *server.Config) { c.Gateway.AuthTimeout = 300 * time.Millisecond })
	n.seed()
	start := time.Now()
	w := dialVisitorWS(t, n, "")
	if code := w.waitClosed(); code != protocol.CloseUnauthenticated {
		t.Fatalf("close code %d, want 4001", code)
	}
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Fatalf("closed after %s, before the auth timeout", el)
	}
	// An authenticated socket on the same node outlives the timeout: its
	// auth stopped the timer.
	v := n.newVisitor("demo", "")
	w2, _ := v.ws()
	w2.drain(500 * time.Millisecond)
	pingOK(t, w2, "the auth timeout")
}

// TestBadInputCommandValidation: invalid commands on an authenticated visitor
// socket and over REST get their codes, and the timeline afterwards holds
// exactly the valid messages, with no gap.
func TestBadInputCommandValidation(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	admin := n.login("admin@demo.test", "demo-admin-pass")
	v := n.newVisitor("demo", "")
	w, _ := v.ws()
	conv := requestChat(t, w, "first question")
	ok1 := sendMsg(t, w, conv, "ok-1", "valid one")

	send := func(data map[string]any) frame { return w.send("send", data) }
	cases := []struct {
		name string
		typ  string
		data map[string]any
		code string
	}{
		{"empty body", "send", map[string]any{"conversation_id": conv, "client_id": "e1", "body": ""}, "empty_message"},
		{"blank body", "send", map[string]any{"conversation_id": conv, "client_id": "e2", "body": " \n\t "}, "empty_message"},
		{"body over 8 KiB", "send", map[string]any{"conversation_id": conv, "client_id": "e3", "body": strings.Repeat("a", 8<<10+1)}, "message_too_long"},
		{"missing client_id", "send", map[string]any{"conversation_id": conv, "body": "no id"}, "client_id_required"},
		{"client_id with spaces", "send", map[string]any{"conversation_id": conv, "client_id": "has spaces", "body": "bad id"}, "invalid_client_id"},
		{"client_id too long", "send", map[string]any{"conversation_id": conv, "client_id": strings.Repeat("c", 65), "body": "long id"}, "invalid_client_id"},
		{"unknown conversation", "send", map[string]any{"conversation_id": conv + 1000, "client_id": "e4", "body": "nowhere"}, "conversation_not_found"},
		{"conversation zero", "send", map[string]any{"conversation_id": 0, "client_id": "e5", "body": "nowhere"}, "conversation_not_found"},
		{"negative conversation", "send", map[string]any{"conversation_id": -1, "client_id": "e6", "body": "nowhere"}, "conversation_not_found"},
		{"attachment of nobody", "send", map[string]any{"conversation_id": conv, "client_id": "e7", "body": "", "attachment_id": 424242}, "attachment_not_found"},
		{"visitor note", "note", map[string]any{"conversation_id": conv, "client_id": "e8", "body": "psst"}, "conversation_not_found"},
		{"read beyond the end", "read", map[string]any{"conversation_id": conv, "seq": 1000}, "seq_out_of_range"},
		{"read seq zero", "read", map[string]any{"conversation_id": conv, "seq": 0}, "invalid_seq"},
		{"read unknown conversation", "read", map[string]any{"conversation_id": conv + 1000, "seq": 1}, "conversation_not_found"},
		{"typing unknown conversation", "typing", map[string]any{"conversation_id": conv + 1000, "typing": true}, "conversation_not_found"},
		{"subscribe negative cursor", "subscribe", map[string]any{"conversation_id": conv, "after_seq": -1}, "invalid_seq"},
		{"subscribe unknown conversation", "subscribe", map[string]any{"conversation_id": conv + 1000, "after_seq": 0}, "conversation_not_found"},
		{"end unknown conversation", "end_chat", map[string]any{"conversation_id": conv + 1000}, "conversation_not_found"},
		{"presence javascript URL", "presence", map[string]any{"url": "javascript:alert(1)", "title": "x", "visible": true}, "invalid_url"},
		{"presence data URL", "presence", map[string]any{"url": "data:text/html,<b>x</b>", "visible": true}, "invalid_url"},
		{"presence URL too long", "presence", map[string]any{"url": "https://shop.test/" + strings.Repeat("p", 2100), "visible": true}, "invalid_url"},
		{"presence title too long", "presence", map[string]any{"url": "https://shop.test/", "title": strings.Repeat("t", 600), "visible": true}, "invalid_title"},
		{"request_chat invalid email", "request_chat", map[string]any{"name": "Eve", "email": "not-an-email"}, "invalid_email"},
		{"request_chat email with display name", "request_chat", map[string]any{"email": "Eve <eve@example.com>"}, "invalid_email"},
		{"request_chat body without client_id", "request_chat", map[string]any{"body": "again?"}, "client_id_required"},
		{"availability from a visitor", "availability", map[string]any{"availability": "available"}, "staff_only"},
	}
	for _, c := range cases {
		wantWSError(t, c.name, w.send(c.typ, c.data), c.code)
		pingOK(t, w, c.name)
	}
	ok2 := sendMsg(t, w, conv, "ok-2", "valid two")
	// Valid presence and typing are accepted (and are not written to the timeline).
	wantAck(t, "valid presence", w.send("presence", map[string]any{"url": "https://shop.test/cart", "title": "Cart", "visible": true}))
	wantAck(t, "valid typing", w.send("typing", map[string]any{"conversation_id": conv, "typing": true}))
	// A retry of an acknowledged send after errors still returns the first ack.
	if again := sendMsg(t, w, conv, "ok-1", "valid one"); again.ID != ok1.ID {
		t.Fatalf("retry after errors created a new message: %+v vs %+v", again, ok1)
	}
	if f := send(map[string]any{"conversation_id": conv, "client_id": "ok-3", "body": "valid three"}); f.Type != "ack" {
		t.Fatalf("send after errors: %+v", f.Error)
	}

	// The same rules over REST.
	path := fmt.Sprintf("/api/v1/visitor/conversations/%d/messages", conv)
	v.doProblem("POST", path, map[string]any{"client_id": "r1", "body": ""}, 400, "empty_message")
	v.doProblem("POST", path, map[string]any{"client_id": "r2", "body": strings.Repeat("b", 8<<10+1)}, 413, "message_too_long")
	v.doProblem("POST", path, map[string]any{"body": "no id"}, 400, "client_id_required")
	v.doProblem("POST", path, map[string]any{"client_id": "a b", "body": "x"}, 400, "invalid_client_id")
	v.doProblem("POST", fmt.Sprintf("/api/v1/visitor/conversations/%d/messages", conv+1000), map[string]any{"client_id": "r3", "body": "x"}, 404, "conversation_not_found")
	v.doProblem("POST", fmt.Sprintf("/api/v1/visitor/conversations/%d/read", conv), map[string]any{"seq": 1000}, 400, "seq_out_of_range")
	v.doProblem("POST", "/api/v1/visitor/chats", map[string]any{"email": "nope@"}, 400, "invalid_email")
	v.doProblem("GET", path+"?after_seq=-1", nil, 400, "invalid_seq")
	v.doProblem("GET", path+"?after_seq=abc", nil, 400, "invalid_query")
	v.doProblem("GET", path+"?limit=100000", nil, 400, "invalid_limit")

	// Nothing was half-written: the timeline holds the chat request, the
	// first question and the three valid messages, in order, without gaps.
	hist := staffHistory(t, admin, conv)
	var bodies []string
	for i, m := range hist {
		if m.Seq != int64(i+1) {
			t.Fatalf("timeline gap: entry %d has seq %d", i, m.Seq)
		}
		bodies = append(bodies, m.Body)
	}
	want := []string{"Waiting for an agent to join", "first question", "valid one", "valid two", "valid three"}
	if strings.Join(bodies, "|") != strings.Join(want, "|") {
		t.Fatalf("timeline after bad input:\n got %q\nwant %q", bodies, want)
	}
	if hist[3].ID != ok2.ID {
		t.Fatalf("timeline entry 4 is %+v, want the acked %+v", hist[3], ok2)
	}
	// The refused email did not change the contact either.
	var cv struct {
		Contact struct {
			Name  string `json:"name"`
			Email string `json:"email"`
		} `json:"contact"`
	}
	admin.do("GET", fmt.Sprintf("/api/v1/conversations/%d", conv), nil, &cv)
	if cv.Contact.Email != "vera@example.com" || cv.Contact.Name != "Vera Visitor" {
		t.Fatalf("contact after refused request_chat: %+v", cv.Contact)
	}
}

// TestBadInputNoteAttachmentNotDropped: a note that names an attachment must
// either carry it or be refused; acknowledging it without the attachment
// silently drops input.
func TestBadInputNoteAttachmentNotDropped(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	alice := n.login("alice@demo.test", "demo-agent-pass")
	v := n.newVisitor("demo", "")
	vw, _ := v.ws()
	conv := requestChat(t, vw, "hello")
	status, body := uploadFile(t, alice.http, n.base+fmt.Sprintf("/api/v1/conversations/%d/attachments", conv),
		map[string]string{"X-CSRF-Token": alice.csrf}, "notes.txt", []byte("internal notes\n"))
	if status != 201 {
		t.Fatalf("staff upload: %d %s", status, body)
	}
	att := decode[attachmentJSON](t, body)
	aw := alice.ws()
	f := aw.send("note", map[string]any{"conversation_id": conv, "client_id": "n1", "body": "see file", "attachment_id": att.ID})
	if f.Type == "ack" {
		var m struct {
			AttachmentID int64 `json:"attachment_id"`
		}
		_ = json.Unmarshal(f.Data, &m)
		if m.AttachmentID != att.ID {
			t.Fatalf("note acked without its attachment: %s", f.Data)
		}
	}
}

// ---------------------------------------------------------------------------
// REST.

// TestBadInputREST: malformed REST requests get problem+json with stable codes.
func TestBadInputREST(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	alice := n.login("alice@demo.test", "demo-agent-pass")
	jsonH := map[string]string{"Content-Type": "application/json"}

	// No cookie.
	res, body := rawHTTP(t, nil, "GET", n.base+"/api/v1/me", nil, nil)
	wantProblem(t, "me without cookie", res, body, 401, "unauthenticated")
	// A forged cookie.
	res, body = rawHTTP(t, nil, "GET", n.base+"/api/v1/me", nil, map[string]string{"Cookie": "sb_session=" + strings.Repeat("A", 43)})
	wantProblem(t, "me with a forged cookie", res, body, 401, "unauthenticated")
	res, body = rawHTTP(t, nil, "GET", n.base+"/api/v1/conversations", nil, map[string]string{"Cookie": "sb_session=garbage"})
	wantProblem(t, "conversations with a garbage cookie", res, body, 401, "unauthenticated")

	// Bodies.
	res, body = alice.rawDo("PUT", "/api/v1/me/availability", "application/json", []byte(`{"availability":`), nil)
	wantProblem(t, "truncated JSON", res, body, 400, "invalid_json")
	res, body = alice.rawDo("PUT", "/api/v1/me/availability", "application/json", []byte(`not json`), nil)
	wantProblem(t, "not JSON", res, body, 400, "invalid_json")
	res, body = alice.rawDo("PUT", "/api/v1/me/availability", "application/json", []byte(``), nil)
	wantProblem(t, "empty body", res, body, 400, "invalid_json")
	res, body = alice.rawDo("PUT", "/api/v1/me/availability", "application/json", []byte(`{"availability":"away","x":1}`), nil)
	wantProblem(t, "unknown JSON field", res, body, 400, "invalid_json")
	res, body = alice.rawDo("PUT", "/api/v1/me/availability", "application/json", []byte(`{"availability":7}`), nil)
	wantProblem(t, "wrong field type", res, body, 400, "invalid_json")
	res, body = alice.rawDo("PUT", "/api/v1/me/availability", "application/json", []byte(`{"availability":"away"} {"availability":"busy"}`), nil)
	wantProblem(t, "two JSON values", res, body, 400, "invalid_json")
	res, body = alice.rawDo("PUT", "/api/v1/me/availability", "text/plain", []byte(`{"availability":"away"}`), nil)
	wantProblem(t, "text/plain body", res, body, 415, "unsupported_media_type")
	res, body = alice.rawDo("PUT", "/api/v1/me/availability", "", []byte(`{"availability":"away"}`), nil)
	wantProblem(t, "no Content-Type", res, body, 415, "unsupported_media_type")
	res, body = alice.rawDo("PUT", "/api/v1/me/availability", "application/x-www-form-urlencoded", []byte(`availability=away`), nil)
	wantProblem(t, "form body", res, body, 415, "unsupported_media_type")
	res, body = alice.rawDo("PUT", "/api/v1/me/availability", "application/json; charset=utf-8", []byte(`{"availability":"sleeping"}`), nil)
	wantProblem(t, "invalid availability", res, body, 400, "invalid_availability")
	big := append([]byte(`{"availability":"`), bytes.Repeat([]byte("a"), 1<<20+1024)...)
	big = append(big, `"}`...)
	res, body = alice.rawDo("PUT", "/api/v1/me/availability", "application/json", big, nil)
	wantProblem(t, "body over 1 MiB", res, body, 413, "body_too_large")
	var me struct {
		User struct{ Availability string } `json:"user"`
	}
	alice.do("GET", "/api/v1/me", nil, &me)
	if me.User.Availability != "offline" {
		t.Fatalf("refused requests changed availability to %q", me.User.Availability)
	}

	// Paths and queries.
	res, body = alice.rawDo("GET", "/api/v1/conversations/abc", "", nil, nil)
	wantProblem(t, "non-numeric id", res, body, 400, "invalid_id")
	res, body = alice.rawDo("GET", "/api/v1/conversations/-3", "", nil, nil)
	wantProblem(t, "negative id", res, body, 400, "invalid_id")
	res, body = alice.rawDo("GET", "/api/v1/conversations/99999999999999999999", "", nil, nil)
	wantProblem(t, "id overflowing int64", res, body, 400, "invalid_id")
	res, body = alice.rawDo("GET", "/api/v1/conversations/424242", "", nil, nil)
	wantProblem(t, "unknown conversation", res, body, 404, "conversation_not_found")
	res, body = alice.rawDo("GET", "/api/v1/attachments/424242", "", nil, nil)
	wantProblem(t, "unknown attachment", res, body, 404, "attachment_not_found")
	res, body = alice.rawDo("GET", "/api/v1/conversations?limit=x", "", nil, nil)
	wantProblem(t, "non-numeric limit", res, body, 400, "invalid_query")
	res, body = alice.rawDo("GET", "/api/v1/conversations?status=maybe", "", nil, nil)
	wantProblem(t, "unknown status filter", res, body, 400, "invalid_status")
	res, body = alice.rawDo("GET", "/api/v1/conversations?assignee=someone", "", nil, nil)
	wantProblem(t, "bad assignee filter", res, body, 400, "invalid_query")
	res, body = rawHTTP(t, nil, "GET", n.base+"/api/v1/no/such/thing", nil, nil)
	wantProblem(t, "unknown route", res, body, 404, "route_not_found")
	res, body = rawHTTP(t, nil, "POST", n.base+"/api/v2/anything", []byte(`{}`), jsonH)
	wantProblem(t, "unknown API version", res, body, 404, "route_not_found")

	// Login.
	res, body = rawHTTP(t, nil, "POST", n.base+"/api/v1/auth/login", []byte(`{"email":"alice@demo.test","password":"wrong-password"}`), jsonH)
	wantProblem(t, "wrong password", res, body, 401, "invalid_credentials")
	if c := res.Header.Get("Set-Cookie"); c != "" {
		t.Fatalf("failed login set a cookie: %s", c)
	}
	res, body = rawHTTP(t, nil, "POST", n.base+"/api/v1/auth/login", []byte(`{"email":"nobody@demo.test","password":"demo-agent-pass"}`), jsonH)
	wantProblem(t, "unknown email", res, body, 401, "invalid_credentials")
	res, body = rawHTTP(t, nil, "POST", n.base+"/api/v1/auth/login", []byte(`{"email":"alice@demo.test","password":"x","remember":true}`), jsonH)
	wantProblem(t, "login with unknown field", res, body, 400, "invalid_json")

	// Visitor sessions.
	res, body = rawHTTP(t, nil, "POST", n.base+"/api/v1/visitor/sessions", []byte(`{"site_key":"bad key!"}`), jsonH)
	wantProblem(t, "malformed site key", res, body, 400, "invalid_site_key")
	res, body = rawHTTP(t, nil, "POST", n.base+"/api/v1/visitor/sessions", []byte(`{"site_key":""}`), jsonH)
	wantProblem(t, "empty site key", res, body, 400, "invalid_site_key")
	res, body = rawHTTP(t, nil, "POST", n.base+"/api/v1/visitor/sessions", []byte(`{"site_key":"no-such-site"}`), jsonH)
	wantProblem(t, "unknown site key", res, body, 404, "site_not_found")
	res, body = rawHTTP(t, nil, "POST", n.base+"/api/v1/visitor/sessions", []byte(`{"site_key":"demo","x":1}`), jsonH)
	wantProblem(t, "visitor session with unknown field", res, body, 400, "invalid_json")

	// Visitor endpoints without or with a bad token.
	res, body = rawHTTP(t, nil, "GET", n.base+"/api/v1/visitor/conversations", nil, nil)
	wantProblem(t, "visitor call without token", res, body, 401, "unauthenticated")
	res, body = rawHTTP(t, nil, "GET", n.base+"/api/v1/visitor/conversations", nil, map[string]string{"Authorization": "Bearer nope"})
	wantProblem(t, "visitor call with a bad token", res, body, 401, "unauthenticated")
	res, body = rawHTTP(t, nil, "GET", n.base+"/api/v1/visitor/conversations", nil, map[string]string{"Authorization": "Basic YTpi"})
	wantProblem(t, "visitor call with basic auth", res, body, 401, "unauthenticated")
	v := n.newVisitor("demo", "")
	res, body = v.rawDo("GET", "/api/v1/visitor/conversations/abc/messages", "", nil)
	wantProblem(t, "visitor bad path id", res, body, 400, "invalid_id")
	res, body = v.rawDo("POST", "/api/v1/visitor/chats", "text/plain", []byte(`{}`))
	wantProblem(t, "visitor wrong content type", res, body, 415, "unsupported_media_type")
}

// TestBadInputLoginRateLimit: the 11th login attempt from one address within
// the burst is refused with 429 rate_limited, even with the right password.
func TestBadInputLoginRateLimit(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	jsonH := map[string]string{"Content-Type": "application/json"}
	for i := 1; i <= 10; i++ {
		// Different emails, so only the per-address limit is exercised.
		b := fmt.Sprintf(`{"email":"guess%d@demo.test","password":"wrong-password"}`, i)
		res, body := rawHTTP(t, nil, "POST", n.base+"/api/v1/auth/login", []byte(b), jsonH)
		wantProblem(t, fmt.Sprintf("attempt %d", i), res, body, 401, "invalid_credentials")
	}
	res, body := rawHTTP(t, nil, "POST", n.base+"/api/v1/auth/login", []byte(`{"email":"alice@demo.test","password":"demo-agent-pass"}`), jsonH)
	wantProblem(t, "attempt 11", res, body, 429, "rate_limited")
	if res.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	if c := res.Header.Get("Set-Cookie"); c != "" {
		t.Fatalf("rate-limited login set a cookie: %s", c)
	}
}

// TestBadInputCSRF: a mutating staff request without the CSRF header, or
// with a wrong one, is refused with 403 csrf_failed and changes nothing.
func TestBadInputCSRF(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	admin := n.login("admin@demo.test", "demo-admin-pass")
	alice := n.login("alice@demo.test", "demo-agent-pass")
	for _, csrf := range []string{"", "wrong-token", strings.Repeat("A", len(alice.csrf))} {
		h := map[string]string{"X-CSRF-Token": csrf}
		res, body := alice.rawDo("PUT", "/api/v1/me/availability", "application/json", []byte(`{"availability":"available"}`), h)
		wantProblem(t, fmt.Sprintf("availability with CSRF %q", csrf), res, body, 403, "csrf_failed")
		res, body = admin.rawDo("POST", "/api/v1/sites", "application/json", []byte(`{"name":"Sneaky","key":"sneaky"}`), h)
		wantProblem(t, fmt.Sprintf("create site with CSRF %q", csrf), res, body, 403, "csrf_failed")
		res, body = admin.rawDo("POST", "/api/v1/users", "application/json",
			[]byte(`{"email":"mallory@demo.test","name":"Mallory","password":"mallory-pass","role":"admin"}`), h)
		wantProblem(t, fmt.Sprintf("create user with CSRF %q", csrf), res, body, 403, "csrf_failed")
		res, body = alice.rawDo("POST", "/api/v1/auth/logout", "", nil, h)
		wantProblem(t, fmt.Sprintf("logout with CSRF %q", csrf), res, body, 403, "csrf_failed")
	}
	// Another user's CSRF token is not yours.
	res, body := alice.rawDo("PUT", "/api/v1/me/availability", "application/json", []byte(`{"availability":"available"}`), map[string]string{"X-CSRF-Token": admin.csrf})
	wantProblem(t, "availability with another session's CSRF token", res, body, 403, "csrf_failed")

	// Nothing changed.
	var me struct {
		User struct{ Availability string } `json:"user"`
	}
	if st := alice.do("GET", "/api/v1/me", nil, &me); st != 200 {
		t.Fatalf("alice was logged out by a refused request: %d", st)
	}
	if me.User.Availability != "offline" {
		t.Fatalf("availability changed to %q", me.User.Availability)
	}
	var sites struct {
		Sites []struct{ Key string } `json:"sites"`
	}
	admin.do("GET", "/api/v1/sites", nil, &sites)
	if len(sites.Sites) != 1 || sites.Sites[0].Key != "demo" {
		t.Fatalf("sites after refused requests: %+v", sites.Sites)
	}
	var users struct {
		Users []struct{ Email string } `json:"users"`
	}
	admin.do("GET", "/api/v1/users", nil, &users)
	for _, u := range users.Users {
		if u.Email == "mallory@demo.test" {
			t.Fatal("a request without a valid CSRF token created a user")
		}
	}
	// With the right token the same request works (the refusals were CSRF).
	if st := alice.do("PUT", "/api/v1/me/availability", map[string]any{"availability": "available"}, nil); st != 200 {
		t.Fatalf("availability with CSRF: %d", st)
	}
}

// ---------------------------------------------------------------------------
// Attachments.

type attachmentJSON struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
}

// uploadFile posts content as the multipart field "file" and returns the
// status and body.
func uploadFile(t testing.TB, hc *http.Client, url string, headers map[string]string, name string, content []byte) (int, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(content); err != nil {
		t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	h := map[string]string{"Content-Type": mw.FormDataContentType()}
	for k, v := range headers {
		h[k] = v
	}
	res, body := rawHTTP(t, hc, "POST", url, buf.Bytes(), h)
	if res.StatusCode >= 400 {
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			t.Fatalf("upload %s: error %d with Content-Type %q", name, res.StatusCode, ct)
		}
	}
	return res.StatusCode, body
}

func (v *visitor) upload(conv int64, name string, content []byte) (int, []byte) {
	v.t.Helper()
	h := map[string]string{"Authorization": "Bearer " + v.token}
	if v.origin != "" {
		h["Origin"] = v.origin
	}
	return uploadFile(v.t, v.http, v.n.base+fmt.Sprintf("/api/v1/visitor/conversations/%d/attachments", conv), h, name, content)
}

func pngBytes(t testing.TB) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	for x := 0; x < 4; x++ {
		for y := 0; y < 4; y++ {
			img.Set(x, y, color.RGBA{R: uint8(60 * x), G: uint8(60 * y), B: 200, A: 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// blobFiles lists the files (temporary ones included) under the blob store.
func blobFiles(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(dir, "blobs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			out = append(out, d.Name())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBadInputAttachments: uploads are type-checked by sniffing and
// size-limited; refused uploads leave nothing behind; accepted ones are
// served with nosniff, inline only for images; a message can carry one.
func TestBadInputAttachments(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, func(c *server.Config) { c.MaxAttachmentBytes = 1024 })
	n.seed()
	alice := n.login("alice@demo.test", "demo-agent-pass")
	aw := alice.ws()
	v := n.newVisitor("demo", "")
	vw, _ := v.ws()
	conv := requestChat(t, vw, "see attached")
	wantAck(t, "agent subscribe", aw.send("subscribe", map[string]any{"conversation_id": conv, "after_seq": 0}))

	// A PNG: 201, sniffed as image/png, served inline with nosniff.
	img := pngBytes(t)
	if len(img) > 1024 {
		t.Fatalf("test PNG is %d bytes, over the limit", len(img))
	}
	st, body := v.upload(conv, "photo.png", img)
	if st != 201 {
		t.Fatalf("PNG upload: %d %s", st, body)
	}
	pngAtt := decode[attachmentJSON](t, body)
	if pngAtt.ContentType != "image/png" || pngAtt.Size != int64(len(img)) || pngAtt.Name != "photo.png" || pngAtt.ID == 0 {
		t.Fatalf("PNG attachment: %+v", pngAtt)
	}
	res, got := v.rawDo("GET", fmt.Sprintf("/api/v1/visitor/attachments/%d", pngAtt.ID), "", nil)
	if res.StatusCode != 200 || !bytes.Equal(got, img) {
		t.Fatalf("PNG download: %d, %d bytes", res.StatusCode, len(got))
	}
	if h := res.Header.Get("X-Content-Type-Options"); h != "nosniff" {
		t.Fatalf("PNG download X-Content-Type-Options %q", h)
	}
	if h := res.Header.Get("Content-Disposition"); !strings.HasPrefix(h, "inline") {
		t.Fatalf("PNG download Content-Disposition %q, want inline", h)
	}
	if h := res.Header.Get("Content-Type"); h != "image/png" {
		t.Fatalf("PNG download Content-Type %q", h)
	}

	// A PNG named .html is still a PNG (the name never decides the type).
	st, body = v.upload(conv, "trick.html", img)
	if st != 201 || decode[attachmentJSON](t, body).ContentType != "image/png" {
		t.Fatalf("PNG named .html: %d %s", st, body)
	}

	// HTML, even named .png, is refused.
	html := []byte("<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>")
	for _, name := range []string{"page.html", "innocent.png"} {
		st, body = v.upload(conv, name, html)
		if st != 400 || decode[problemBody](t, body).Code != "file_type_not_allowed" {
			t.Fatalf("HTML upload as %s: %d %s", name, st, body)
		}
	}
	// So is an executable-looking binary.
	st, body = v.upload(conv, "tool.exe", append([]byte("MZ\x90\x00\x03\x00\x00\x00"), bytes.Repeat([]byte{0}, 100)...))
	if st != 400 || decode[problemBody](t, body).Code != "file_type_not_allowed" {
		t.Fatalf("binary upload: %d %s", st, body)
	}
	// Over the limit: 413, while streaming.
	st, body = v.upload(conv, "big.txt", bytes.Repeat([]byte("0123456789abcdef"), 128))
	if st != 413 || decode[problemBody](t, body).Code != "file_too_large" {
		t.Fatalf("oversized upload: %d %s", st, body)
	}
	// Empty, and no file field at all.
	st, body = v.upload(conv, "empty.txt", nil)
	if st != 400 || decode[problemBody](t, body).Code != "empty_file" {
		t.Fatalf("empty upload: %d %s", st, body)
	}
	res, body = v.rawDo("POST", fmt.Sprintf("/api/v1/visitor/conversations/%d/attachments", conv), "application/json", []byte(`{}`))
	wantProblem(t, "upload as JSON", res, body, 415, "unsupported_media_type")
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	_ = mw.WriteField("note", "no file here")
	_ = mw.Close()
	res, body = v.rawDo("POST", fmt.Sprintf("/api/v1/visitor/conversations/%d/attachments", conv), mw.FormDataContentType(), form.Bytes())
	wantProblem(t, "upload without a file field", res, body, 400, "file_missing")
	st, body = v.upload(conv+1000, "x.txt", []byte("hello\n"))
	if st != 404 || decode[problemBody](t, body).Code != "conversation_not_found" {
		t.Fatalf("upload to an unknown conversation: %d %s", st, body)
	}

	// Plain text: served as an attachment, never inline.
	text := []byte("order 1234\nthank you\n")
	st, body = v.upload(conv, "order.txt", text)
	if st != 201 {
		t.Fatalf("text upload: %d %s", st, body)
	}
	txtAtt := decode[attachmentJSON](t, body)
	if !strings.HasPrefix(txtAtt.ContentType, "text/plain") {
		t.Fatalf("text attachment: %+v", txtAtt)
	}
	res, got = v.rawDo("GET", fmt.Sprintf("/api/v1/visitor/attachments/%d", txtAtt.ID), "", nil)
	if res.StatusCode != 200 || !bytes.Equal(got, text) {
		t.Fatalf("text download: %d %q", res.StatusCode, got)
	}
	if h := res.Header.Get("Content-Disposition"); !strings.HasPrefix(h, "attachment") {
		t.Fatalf("text download Content-Disposition %q, want attachment", h)
	}
	if h := res.Header.Get("X-Content-Type-Options"); h != "nosniff" {
		t.Fatalf("text download X-Content-Type-Options %q", h)
	}

	// Refused uploads left no file behind: exactly the three accepted blobs.
	if files := blobFiles(t, dir); len(files) != 3 {
		t.Fatalf("blob store holds %d files after 3 accepted uploads: %v", len(files), files)
	}

	// The uploader sends a message with the attachment; the agent sees it.
	f := vw.send("send", map[string]any{"conversation_id": conv, "client_id": "with-file", "body": "", "attachment_id": pngAtt.ID})
	wantAck(t, "send with attachment", f)
	type msgWithAtt struct {
		Seq          int64           `json:"seq"`
		AttachmentID int64           `json:"attachment_id"`
		Attachment   *attachmentJSON `json:"attachment"`
	}
	sent := decode[msgWithAtt](t, f.Data)
	if sent.AttachmentID != pngAtt.ID || sent.Attachment == nil || sent.Attachment.ContentType != "image/png" {
		t.Fatalf("ack of send with attachment: %s", f.Data)
	}
	ev := aw.waitEvent("message", func(f frame) bool { return f.Seq == sent.Seq })
	seen := decode[msgWithAtt](t, ev.Data)
	if seen.AttachmentID != pngAtt.ID || seen.Attachment == nil || seen.Attachment.ID != pngAtt.ID || seen.Attachment.ContentType != "image/png" {
		t.Fatalf("agent saw %s", ev.Data)
	}
	// In the stored timeline too, and the agent can download it.
	var hist struct {
		Messages []msgWithAtt `json:"messages"`
	}
	alice.do("GET", fmt.Sprintf("/api/v1/conversations/%d/messages?after_seq=%d", conv, sent.Seq-1), nil, &hist)
	if len(hist.Messages) != 1 || hist.Messages[0].Attachment == nil || hist.Messages[0].Attachment.ID != pngAtt.ID {
		t.Fatalf("stored message: %+v", hist.Messages)
	}
	res, got = alice.rawDo("GET", fmt.Sprintf("/api/v1/attachments/%d", pngAtt.ID), "", nil, nil)
	if res.StatusCode != 200 || !bytes.Equal(got, img) || res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("agent download: %d, %d bytes, nosniff %q", res.StatusCode, len(got), res.Header.Get("X-Content-Type-Options"))
	}
	// An attachment id that does not exist, or is not yours, is refused and
	// writes nothing.
	wantWSError(t, "send with unknown attachment", vw.send("send", map[string]any{"conversation_id": conv, "client_id": "bad-file", "body": "", "attachment_id": 999999}), "attachment_not_found")
	var after struct {
		Messages []message `json:"messages"`
	}
	alice.do("GET", fmt.Sprintf("/api/v1/conversations/%d/messages?after_seq=%d", conv, sent.Seq), nil, &after)
	if len(after.Messages) != 0 {
		t.Fatalf("a refused send wrote %+v", after.Messages)
	}
}

// checkDownloadName uploads a text file named name and checks that its
// download carries one well-formed Content-Disposition: attachment with the
// file name want.
func checkDownloadName(t *testing.T, v *visitor, conv int64, name, want string) {
	t.Helper()
	st, body := v.upload(conv, name, []byte("some text\n"))
	if st != 201 {
		t.Fatalf("upload %q: %d %s", name, st, body)
	}
	att := decode[attachmentJSON](t, body)
	if att.Name != want {
		t.Fatalf("upload %q stored as %q, want %q", name, att.Name, want)
	}
	res, _ := v.rawDo("GET", fmt.Sprintf("/api/v1/visitor/attachments/%d", att.ID), "", nil)
	cd := res.Header.Values("Content-Disposition")
	if len(cd) != 1 {
		t.Fatalf("download of %q: %d Content-Disposition headers: %q", name, len(cd), cd)
	}
	disp, params, err := mime.ParseMediaType(cd[0])
	if err != nil {
		t.Fatalf("download of %q: malformed Content-Disposition %q: %v", name, cd[0], err)
	}
	if disp != "attachment" || params["filename"] != want {
		t.Fatalf("download of %q: Content-Disposition %q parses as %q %q", name, cd[0], disp, params)
	}
}

// TestBadInputAttachmentNames: hostile file names are made safe (no path,
// no quotes, no bidi overrides) and the download's Content-Disposition
// stays a single well-formed attachment header.
func TestBadInputAttachmentNames(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	v := n.newVisitor("demo", "")
	vw, _ := v.ws()
	conv := requestChat(t, vw, "files")
	for _, c := range []struct{ name, want string }{
		{"plain.txt", "plain.txt"},
		{`../../etc/passwd`, "passwd"},
		{`C:\Users\me\notes.txt`, "notes.txt"},
		{"say \"hi\".txt", "say hi.txt"},
		{"evil\u202etxt.exe", "eviltxt.exe"},
		{"  ..hidden. ", "hidden"},
		{"", "file"},
	} {
		checkDownloadName(t, v, conv, c.name, c.want)
	}
}

// TestBadInputAttachmentNamesEncoded: names that need RFC 5987 encoding
// (non-ASCII, or characters such as = , @ ;) must still give a well-formed
// Content-Disposition.
func TestBadInputAttachmentNamesEncoded(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	v := n.newVisitor("demo", "")
	vw, _ := v.ws()
	conv := requestChat(t, vw, "files")
	for _, name := range []string{"icon@2x.txt", "a=b,c.txt", "time 10:30.txt", "résumé.txt", "報告.txt"} {
		checkDownloadName(t, v, conv, name, name)
	}
}
