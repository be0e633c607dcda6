package server_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/internal/channel"
	"switchboard/internal/clock"
	"switchboard/internal/server"
)

const (
	testAccountSID = "AC0123456789abcdef0123456789abcdef"
	testAuthToken  = "test-auth-token"
)

// fakeTwilio speaks Twilio's Messages API: POST
// /2010-04-01/Accounts/{sid}/Messages.json, form-encoded, Basic auth, and
// answers 201 with the message resource. It records what it was sent.
type fakeTwilio struct {
	mu   sync.Mutex
	sent []url.Values
	srv  *httptest.Server
}

func startFakeTwilio(t *testing.T) *fakeTwilio {
	f := &fakeTwilio{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if r.Method != "POST" || r.URL.Path != "/2010-04-01/Accounts/"+testAccountSID+"/Messages.json" || !ok ||
			user != testAccountSID || pass != testAuthToken || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			io.WriteString(w, `{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}`)
			return
		}
		if err := r.ParseForm(); err != nil {
			w.WriteHeader(400)
			return
		}
		f.mu.Lock()
		f.sent = append(f.sent, r.PostForm)
		n := len(f.sent)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		fmt.Fprintf(w, `{"sid":"SM%032x","status":"queued","to":%q,"from":%q,"body":%q,"error_code":null,"error_message":null}`,
			n, r.PostForm.Get("To"), r.PostForm.Get("From"), r.PostForm.Get("Body"))
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeTwilio) wait(t *testing.T, what string, match func(url.Values) bool) url.Values {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		f.mu.Lock()
		for _, v := range f.sent {
			if match(v) {
				f.mu.Unlock()
				return v
			}
		}
		f.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: Twilio was not sent such a message", what)
	return nil
}

// twilioPost posts an inbound-message webhook as Twilio does, signed with
// X-Twilio-Signature (HMAC-SHA1 of the URL and the sorted parameters).
func twilioPost(t *testing.T, hookURL string, form url.Values, token string) int {
	t.Helper()
	names := make([]string, 0, len(form))
	for k := range form {
		names = append(names, k)
	}
	sort.Strings(names)
	mac := hmac.New(sha1.New, []byte(token))
	io.WriteString(mac, hookURL)
	for _, k := range names {
		io.WriteString(mac, k)
		io.WriteString(mac, form.Get(k))
	}
	req, _ := http.NewRequest("POST", hookURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestSMSAndWhatsAppFollowUp: a customer texts in by WhatsApp (a signed
// webhook) and it becomes a live chat an agent answers; later, outside the
// 24-hour window, free text is refused and only a template goes out, which
// closes the ticket until the customer answers; SMS goes out through the
// provider's API; a forged webhook is refused and changes nothing.
func TestSMSAndWhatsAppFollowUp(t *testing.T) {
	tw := startFakeTwilio(t)
	clk := newSettableClock(time.Now())
	n := startNode(t, "", func(c *server.Config) {
		c.Clock = clk
		c.Channels = server.ChannelsConfig{SiteKey: "demo", Twilio: channelTwilio(tw.srv.URL)}
	})
	n.seed()
	hook := n.base + "/webhooks/twilio"
	inbound := func(sid, body string) url.Values {
		return url.Values{"MessageSid": {sid}, "AccountSid": {testAccountSID}, "From": {"whatsapp:+14155550100"},
			"To": {"whatsapp:+14155550999"}, "Body": {body}, "NumMedia": {"0"}, "ProfileName": {"Pat"}, "WaId": {"14155550100"}}
	}
	// A forged signature: refused, nothing stored.
	if st := twilioPost(t, hook, inbound("SM00000000000000000000000000000001", "forged"), "wrong-token"); st != 403 {
		t.Fatalf("forged webhook: %d, want 403", st)
	}
	alice := n.login("alice@demo.test", "demo-agent-pass")
	aw := alice.ws()
	wantAck(t, "online", aw.send("availability", map[string]any{"availability": "available"}))
	if st := twilioPost(t, hook, inbound("SM00000000000000000000000000000002", "Is my order shipped?"), testAuthToken); st != 200 {
		t.Fatalf("webhook: %d", st)
	}
	// Delivered twice by the provider: stored once.
	twilioPost(t, hook, inbound("SM00000000000000000000000000000002", "Is my order shipped?"), testAuthToken)
	f := aw.waitEvent("chat", func(f frame) bool {
		return strings.Contains(string(f.Data), `"state":"pending"`) || strings.Contains(string(f.Data), `"state":"waiting"`)
	})
	conv := f.ConversationID
	wantAck(t, "join", aw.send("join", map[string]any{"conversation_id": conv}))
	// A plain chat reply reaches the customer's phone too.
	sendMsg(t, aw, conv, "c1", "Let me check.")
	tw.wait(t, "chat reply relayed", func(v url.Values) bool {
		return v.Get("To") == "whatsapp:+14155550100" && v.Get("Body") == "Let me check."
	})
	// Inside the window, free text goes by WhatsApp.
	var m message
	if st := alice.do("POST", fmt.Sprintf("/api/v1/conversations/%d/channel-message", conv),
		map[string]any{"channel": "whatsapp", "client_id": "w1", "body": "Yes, it left today."}, &m); st != 201 {
		t.Fatalf("whatsapp reply: %d", st)
	}
	tw.wait(t, "whatsapp reply", func(v url.Values) bool {
		return v.Get("To") == "whatsapp:+14155550100" && v.Get("From") == "whatsapp:+14155550999" && v.Get("Body") == "Yes, it left today."
	})
	wantAck(t, "end", aw.send("end_chat", map[string]any{"conversation_id": conv}))

	// Two days later: outside the 24-hour window.
	clk.Advance(48 * time.Hour)
	alice.doProblem("POST", fmt.Sprintf("/api/v1/conversations/%d/channel-message", conv),
		map[string]any{"channel": "whatsapp", "client_id": "w2", "body": "Anything else?"}, 409, "template_required")
	alice.doProblem("POST", fmt.Sprintf("/api/v1/conversations/%d/channel-message", conv),
		map[string]any{"channel": "fax", "client_id": "w3", "body": "x"}, 400, "invalid_channel")
	template := "HX0123456789abcdef0123456789abcdef"
	if st := alice.do("POST", fmt.Sprintf("/api/v1/conversations/%d/channel-message", conv),
		map[string]any{"channel": "whatsapp", "client_id": "w4", "template_id": template, "template_vars": map[string]string{"1": "Pat"}}, &m); st != 201 {
		t.Fatalf("template: %d", st)
	}
	tw.wait(t, "template", func(v url.Values) bool {
		return v.Get("ContentSid") == template && v.Get("ContentVariables") == `{"1":"Pat"}` && v.Get("Body") == ""
	})
	// SMS goes out too.
	if st := alice.do("POST", fmt.Sprintf("/api/v1/conversations/%d/channel-message", conv),
		map[string]any{"channel": "sms", "client_id": "s1", "body": "Your parcel arrives tomorrow."}, &m); st != 201 {
		t.Fatalf("sms: %d", st)
	}
	tw.wait(t, "sms", func(v url.Values) bool {
		return v.Get("To") == "+14155550100" && v.Get("From") == "+14155550111" && v.Get("Body") == "Your parcel arrives tomorrow."
	})
	// The customer answers the template: the conversation turns live again.
	twilioPost(t, hook, inbound("SM00000000000000000000000000000003", "Thanks, all good"), testAuthToken)
	aw.waitEvent("chat", func(f frame) bool {
		return f.ConversationID == conv && (strings.Contains(string(f.Data), `"state":"waiting"`) || strings.Contains(string(f.Data), `"state":"pending"`))
	})
	var hist struct {
		Messages []message `json:"messages"`
	}
	alice.do("GET", fmt.Sprintf("/api/v1/conversations/%d/messages", conv), nil, &hist)
	count := 0
	for _, x := range hist.Messages {
		if x.Body == "Is my order shipped?" {
			count++
		}
		if x.Body == "forged" {
			t.Fatal("a forged webhook was stored")
		}
	}
	if count != 1 {
		t.Fatalf("the first text is in the timeline %d times", count)
	}
}

func channelTwilio(base string) channel.TwilioConfig {
	return channel.TwilioConfig{AccountSID: testAccountSID, AuthToken: testAuthToken, From: "+14155550111",
		WhatsAppFrom: "+14155550999", BaseURL: base}
}

// settableClock is the wall clock moved forward by an offset: timers run in
// real time (sockets, outboxes), while Now jumps when the test advances it —
// enough to step over WhatsApp's 24-hour window without waiting a day.
type settableClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func newSettableClock(time.Time) *settableClock { return &settableClock{} }

func (c *settableClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *settableClock) AfterFunc(d time.Duration, f func()) clock.Timer { return time.AfterFunc(d, f) }

func (c *settableClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}
