package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"switchboard/internal/server"
)

// waitLimit bounds every wait for a reply, an event or a close. It is long
// because a loaded CI machine can stall a process for seconds; a passing
// test never waits that long, only a failing one does.
const waitLimit = 30 * time.Second

// node is a whole Switchboard server on loopback.
type node struct {
	t    *testing.T
	srv  *server.Server
	base string
	done chan error
	stop context.CancelFunc
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
}

// startNode boots a server on dir (a fresh temp dir if empty).
func startNode(t *testing.T, dir string, mutate ...func(*server.Config)) *node {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cfg := server.Config{Addr: "127.0.0.1:0", DataDir: dir, BcryptCost: 4, Logger: quietLogger(), ShutdownTimeout: 10 * time.Second}
	for _, m := range mutate {
		m(&cfg)
	}
	srv, err := server.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{t: t, srv: srv, base: srv.BaseURL(), done: make(chan error, 1), stop: cancel}
	go func() { n.done <- srv.Serve(ctx) }()
	t.Cleanup(func() { n.shutdown() })
	return n
}

// shutdown stops the node gracefully (idempotent).
func (n *node) shutdown() {
	if n.stop == nil {
		return
	}
	n.stop()
	n.stop = nil
	select {
	case err := <-n.done:
		if err != nil {
			n.t.Errorf("serve returned: %v", err)
		}
	case <-time.After(20 * time.Second):
		n.t.Errorf("shutdown did not finish")
	}
}

// seed creates the demo site and users and returns them.
func (n *node) seed() server.Demo {
	n.t.Helper()
	d, err := n.srv.SeedDemo(context.Background())
	if err != nil {
		n.t.Fatalf("seed: %v", err)
	}
	return d
}

// staffClient is a signed-in staff browser.
type staffClient struct {
	t    *testing.T
	n    *node
	http *http.Client
	csrf string
	user map[string]any
}

func (n *node) login(email, password string) *staffClient {
	n.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &staffClient{t: n.t, n: n, http: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
	var me struct {
		User      map[string]any `json:"user"`
		CSRFToken string         `json:"csrf_token"`
	}
	status := c.do("POST", "/api/v1/auth/login", map[string]string{"email": email, "password": password}, &me)
	if status != 200 {
		n.t.Fatalf("login %s: status %d", email, status)
	}
	c.csrf, c.user = me.CSRFToken, me.User
	return c
}

func (c *staffClient) userID() int64 { return int64(c.user["id"].(float64)) }

// do sends a JSON request and decodes the JSON response into out (if not
// nil); it returns the status.
func (c *staffClient) do(method, path string, body, out any) int {
	c.t.Helper()
	return doJSON(c.t, c.http, method, c.n.base+path, body, out, map[string]string{"X-CSRF-Token": c.csrf})
}

func doJSON(t *testing.T, hc *http.Client, method, url string, body, out any, headers map[string]string) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, url, raw, err)
		}
	}
	return res.StatusCode
}

// visitor is a widget's visitor session.
type visitor struct {
	t      *testing.T
	n      *node
	token  string
	origin string
	http   *http.Client
}

func (n *node) newVisitor(siteKey, origin string) *visitor {
	n.t.Helper()
	v := &visitor{t: n.t, n: n, origin: origin, http: &http.Client{Timeout: 10 * time.Second}}
	var out struct {
		Token string `json:"token"`
	}
	h := map[string]string{}
	if origin != "" {
		h["Origin"] = origin
	}
	if st := doJSON(n.t, v.http, "POST", n.base+"/api/v1/visitor/sessions", map[string]string{"site_key": siteKey}, &out, h); st != 201 {
		n.t.Fatalf("start visitor: status %d", st)
	}
	v.token = out.Token
	return v
}

func (v *visitor) do(method, path string, body, out any) int {
	v.t.Helper()
	h := map[string]string{"Authorization": "Bearer " + v.token}
	if v.origin != "" {
		h["Origin"] = v.origin
	}
	return doJSON(v.t, v.http, method, v.n.base+path, body, out, h)
}

// frame is any server frame.
type frame struct {
	Type           string          `json:"type"`
	ID             string          `json:"id"`
	ConversationID int64           `json:"conversation_id"`
	Seq            int64           `json:"seq"`
	Data           json.RawMessage `json:"data"`
	Error          *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// wsClient is a real WebSocket client that separates replies from events.
type wsClient struct {
	t      *testing.T
	conn   *websocket.Conn
	mu     sync.Mutex
	nextID int
	events chan frame
	reply  map[string]chan frame
	closed chan struct{}
	status websocket.StatusCode
}

func dialWS(t *testing.T, url string, header http.Header, hc *http.Client) (*wsClient, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: header, HTTPClient: hc})
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(1 << 22)
	c := &wsClient{t: t, conn: conn, events: make(chan frame, 10000), reply: map[string]chan frame{}, closed: make(chan struct{}), status: -1}
	go c.readLoop()
	t.Cleanup(func() { conn.CloseNow() })
	return c, nil
}

func (c *wsClient) readLoop() {
	defer close(c.closed)
	for {
		_, b, err := c.conn.Read(context.Background())
		if err != nil {
			c.mu.Lock()
			c.status = websocket.CloseStatus(err)
			c.mu.Unlock()
			return
		}
		var f frame
		if err := json.Unmarshal(b, &f); err != nil {
			c.t.Errorf("server sent invalid JSON %q", b)
			continue
		}
		if f.Type == "ack" || f.Type == "error" {
			c.mu.Lock()
			ch := c.reply[f.ID]
			delete(c.reply, f.ID)
			c.mu.Unlock()
			if ch != nil {
				ch <- f
				continue
			}
		}
		c.events <- f
	}
}

// staffWS opens a staff socket with the client's cookie.
func (c *staffClient) ws() *wsClient {
	c.t.Helper()
	h := http.Header{"Origin": {c.n.base}}
	w, err := dialWS(c.t, strings.Replace(c.n.base, "http", "ws", 1)+"/ws/staff", h, c.http)
	if err != nil {
		c.t.Fatalf("dial staff: %v", err)
	}
	w.waitEvent("hello", func(frame) bool { return true })
	return w
}

// ws opens and authenticates a visitor socket; it returns the auth ack data.
func (v *visitor) ws() (*wsClient, map[string]any) {
	v.t.Helper()
	h := http.Header{}
	if v.origin != "" {
		h.Set("Origin", v.origin)
	}
	w, err := dialWS(v.t, strings.Replace(v.n.base, "http", "ws", 1)+"/ws/visitor", h, nil)
	if err != nil {
		v.t.Fatalf("dial visitor: %v", err)
	}
	f := w.send("auth", map[string]any{"token": v.token})
	if f.Type != "ack" {
		v.t.Fatalf("visitor auth: %+v", f.Error)
	}
	var data map[string]any
	_ = json.Unmarshal(f.Data, &data)
	return w, data
}

// send sends a command and waits for its single reply.
func (c *wsClient) send(typ string, data any) frame {
	c.t.Helper()
	f, err := c.trySend(typ, data, waitLimit)
	if err != nil {
		c.t.Fatalf("%s: %v", typ, err)
	}
	return f
}

func (c *wsClient) trySend(typ string, data any, timeout time.Duration) (frame, error) {
	c.mu.Lock()
	c.nextID++
	id := fmt.Sprintf("c%d", c.nextID)
	ch := make(chan frame, 1)
	c.reply[id] = ch
	c.mu.Unlock()
	b, _ := json.Marshal(map[string]any{"id": id, "type": typ, "data": data})
	if err := c.raw(b); err != nil {
		return frame{}, err
	}
	select {
	case f := <-ch:
		return f, nil
	case <-c.closed:
		return frame{}, fmt.Errorf("socket closed with %d before reply", c.closeStatus())
	case <-time.After(timeout):
		return frame{}, fmt.Errorf("no reply within %s", timeout)
	}
}

func (c *wsClient) raw(b []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.conn.Write(ctx, websocket.MessageText, b)
}

func (c *wsClient) closeStatus() websocket.StatusCode {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// waitClosed waits for the server to close the socket and returns the code.
func (c *wsClient) waitClosed() websocket.StatusCode {
	c.t.Helper()
	select {
	case <-c.closed:
		return c.closeStatus()
	case <-time.After(waitLimit):
		c.t.Fatal("socket was not closed")
	}
	return 0
}

// waitEvent returns the first event of type typ matching pred, skipping others.
func (c *wsClient) waitEvent(typ string, pred func(frame) bool) frame {
	c.t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case f := <-c.events:
			if f.Type == typ && pred(f) {
				return f
			}
		case <-deadline:
			c.t.Fatalf("no %s event arrived", typ)
			return frame{}
		}
	}
}

// drain returns the events already received, waiting up to d for more.
func (c *wsClient) drain(d time.Duration) []frame {
	var out []frame
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case f := <-c.events:
			out = append(out, f)
		case <-timer.C:
			return out
		}
	}
}

func decode[T any](t *testing.T, raw json.RawMessage) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

// message is the subset of a timeline entry the tests look at.
type message struct {
	ID             int64  `json:"id"`
	ConversationID int64  `json:"conversation_id"`
	Seq            int64  `json:"seq"`
	AuthorKind     string `json:"author_kind"`
	Kind           string `json:"kind"`
	Visibility     string `json:"visibility"`
	Body           string `json:"body"`
	Event          string `json:"event"`
	ClientID       string `json:"client_id"`
}
