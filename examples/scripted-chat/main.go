// Command scripted-chat drives a running Switchboard as a visitor and an
// agent over the public API and WebSockets, the way the widget and the
// console do. It keeps its state (tokens, conversation, cursors) in a file,
// so you can stop the server between two runs and see the second run resume
// with nothing lost or duplicated:
//
//	go run ./cmd/switchboard serve --demo          # terminal 1
//	go run ./examples/scripted-chat                # terminal 2: chat, then exit
//	(stop the server with Ctrl-C and start it again)
//	go run ./examples/scripted-chat                # resumes: replays what it missed
//
// Flags: --server (default http://localhost:8080), --state (default
// ./scripted-chat.json), --messages (how many messages each side sends).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"os"
	"strings"
	"time"

	"github.com/coder/websocket"
)

type state struct {
	VisitorToken string `json:"visitor_token"`
	Conversation int64  `json:"conversation_id"`
	Epoch        string `json:"epoch"`
	VisitorSeq   int64  `json:"visitor_last_seq"`
	AgentSeq     int64  `json:"agent_last_seq"`
	Run          int    `json:"run"`
}

func main() {
	server := flag.String("server", "http://localhost:8080", "Switchboard URL")
	statePath := flag.String("state", "scripted-chat.json", "where to keep tokens and cursors between runs")
	n := flag.Int("messages", 3, "messages each side sends per run")
	email := flag.String("agent", "alice@demo.test", "agent login")
	password := flag.String("password", "demo-agent-pass", "agent password")
	flag.Parse()
	if err := run(*server, *statePath, *n, *email, *password); err != nil {
		fmt.Fprintln(os.Stderr, "scripted-chat:", err)
		os.Exit(1)
	}
}

func run(base, statePath string, n int, email, password string) error {
	var st state
	if b, err := os.ReadFile(statePath); err == nil {
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("read %s: %w", statePath, err)
		}
	}
	st.Run++
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The agent signs in like the console does.
	jar, _ := cookiejar.New(nil)
	agentHTTP := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	var me struct {
		CSRFToken string `json:"csrf_token"`
	}
	if err := call(agentHTTP, "POST", base+"/api/v1/auth/login", nil, map[string]string{"email": email, "password": password}, &me); err != nil {
		return fmt.Errorf("agent login (is the server running with --demo?): %w", err)
	}
	if st.VisitorToken == "" {
		var vs struct {
			Token string `json:"token"`
		}
		if err := call(http.DefaultClient, "POST", base+"/api/v1/visitor/sessions", nil, map[string]string{"site_key": "demo"}, &vs); err != nil {
			return fmt.Errorf("start visitor: %w", err)
		}
		st.VisitorToken = vs.Token
	}
	wsBase := strings.Replace(base, "http", "ws", 1)
	agent, _, err := websocket.Dial(ctx, wsBase+"/ws/staff", &websocket.DialOptions{HTTPClient: agentHTTP, HTTPHeader: http.Header{"Origin": {base}}})
	if err != nil {
		return fmt.Errorf("agent socket: %w", err)
	}
	defer agent.CloseNow()
	visitor, _, err := websocket.Dial(ctx, wsBase+"/ws/visitor", nil)
	if err != nil {
		return fmt.Errorf("visitor socket: %w", err)
	}
	defer visitor.CloseNow()
	a, v := newPeer("agent", agent), newPeer("visitor", visitor)

	auth, err := v.call(ctx, "auth", map[string]any{"token": st.VisitorToken})
	if err != nil {
		return err
	}
	var authData struct {
		Epoch string `json:"epoch"`
	}
	_ = json.Unmarshal(auth, &authData)
	if st.Epoch != "" && st.Epoch != authData.Epoch {
		fmt.Println("the database was replaced (new epoch): starting over")
		st = state{VisitorToken: st.VisitorToken, Run: st.Run}
	}
	st.Epoch = authData.Epoch
	if _, err := a.call(ctx, "availability", map[string]any{"availability": "available"}); err != nil {
		return err
	}
	if st.Conversation == 0 {
		res, err := v.call(ctx, "request_chat", map[string]any{"name": "Scripted Visitor"})
		if err != nil {
			return err
		}
		var view struct {
			Conversation struct{ ID int64 } `json:"conversation"`
		}
		_ = json.Unmarshal(res, &view)
		st.Conversation = view.Conversation.ID
	}
	// Both resume from their cursors: the server replays what they missed.
	for _, p := range []struct {
		peer   *peer
		cursor *int64
	}{{v, &st.VisitorSeq}, {a, &st.AgentSeq}} {
		res, err := p.peer.call(ctx, "subscribe", map[string]any{"conversation_id": st.Conversation, "after_seq": *p.cursor, "epoch": st.Epoch})
		if err != nil {
			return err
		}
		var ack struct {
			Recovered bool  `json:"recovered"`
			LastSeq   int64 `json:"last_seq"`
		}
		_ = json.Unmarshal(res, &ack)
		fmt.Printf("%s resumed after seq %d: recovered=%v, server has %d\n", p.peer.name, *p.cursor, ack.Recovered, ack.LastSeq)
	}
	if _, err := a.call(ctx, "join", map[string]any{"conversation_id": st.Conversation}); err != nil && !strings.Contains(err.Error(), "chat_ended") {
		return err
	}
	for i := 1; i <= n; i++ {
		if _, err := v.call(ctx, "send", map[string]any{"conversation_id": st.Conversation, "client_id": fmt.Sprintf("v-run%d-%d", st.Run, i), "body": fmt.Sprintf("visitor message %d of run %d", i, st.Run)}); err != nil {
			return err
		}
		if _, err := a.call(ctx, "send", map[string]any{"conversation_id": st.Conversation, "client_id": fmt.Sprintf("a-run%d-%d", st.Run, i), "body": fmt.Sprintf("agent reply %d of run %d", i, st.Run)}); err != nil {
			return err
		}
	}
	// Let the last events arrive, then check what each side saw.
	time.Sleep(300 * time.Millisecond)
	for _, p := range []struct {
		peer   *peer
		cursor *int64
	}{{v, &st.VisitorSeq}, {a, &st.AgentSeq}} {
		seqs := p.peer.seen()
		for i, s := range seqs {
			if s <= *p.cursor || (i > 0 && s <= seqs[i-1]) {
				return fmt.Errorf("%s saw seq %d twice or out of order", p.peer.name, s)
			}
		}
		if len(seqs) > 0 {
			*p.cursor = seqs[len(seqs)-1]
		}
		fmt.Printf("%s received %d timeline entries, each once, now at seq %d\n", p.peer.name, len(seqs), *p.cursor)
	}
	b, _ := json.MarshalIndent(st, "", "  ")
	if err := os.WriteFile(statePath, b, 0o600); err != nil {
		return err
	}
	fmt.Printf("conversation %d: state saved to %s; restart the server and run again to resume\n", st.Conversation, statePath)
	return nil
}

func call(hc *http.Client, method, url string, headers map[string]string, body, out any) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		var p struct{ Code, Title string }
		_ = json.NewDecoder(res.Body).Decode(&p)
		return fmt.Errorf("%s %s: %d %s (%s)", method, url, res.StatusCode, p.Title, p.Code)
	}
	return json.NewDecoder(res.Body).Decode(out)
}

// peer is one socket that separates replies from timeline events.
type peer struct {
	name    string
	conn    *websocket.Conn
	next    int
	replies chan frame
	events  chan int64
}

type frame struct {
	Type  string          `json:"type"`
	ID    string          `json:"id"`
	Seq   int64           `json:"seq"`
	Data  json.RawMessage `json:"data"`
	Error *struct{ Code, Message string }
}

func newPeer(name string, c *websocket.Conn) *peer {
	p := &peer{name: name, conn: c, replies: make(chan frame, 16), events: make(chan int64, 100000)}
	go func() {
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				close(p.replies)
				return
			}
			var f frame
			if json.Unmarshal(b, &f) != nil {
				continue
			}
			switch f.Type {
			case "ack", "error":
				p.replies <- f
			case "message":
				p.events <- f.Seq
			}
		}
	}()
	return p
}

func (p *peer) call(ctx context.Context, typ string, data any) (json.RawMessage, error) {
	p.next++
	id := fmt.Sprint(p.next)
	b, _ := json.Marshal(map[string]any{"id": id, "type": typ, "data": data})
	if err := p.conn.Write(ctx, websocket.MessageText, b); err != nil {
		return nil, err
	}
	select {
	case f, ok := <-p.replies:
		if !ok {
			return nil, errors.New(p.name + ": socket closed")
		}
		if f.Error != nil {
			return nil, fmt.Errorf("%s %s: %s: %s", p.name, typ, f.Error.Code, f.Error.Message)
		}
		return f.Data, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *peer) seen() []int64 {
	var out []int64
	for {
		select {
		case s := <-p.events:
			out = append(out, s)
		default:
			return out
		}
	}
}
