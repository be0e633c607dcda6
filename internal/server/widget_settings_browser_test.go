package server_test

// Per-site widget settings and the hybrid (assistant first) mode, end to
// end: an admin configures the site over the REST API; the widget on
// another origin shows it; the assistant answers, "Talk to a human" hands
// the chat to an agent who speaks the real protocol. Screenshots land in
// artifacts/widget/ with the other widget tests' (docs/widget.md).

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// widgetPatchSite PATCHes the demo site as c; it returns the status.
func widgetPatchSite(t *testing.T, c *staffClient, body map[string]any, out any) int {
	t.Helper()
	return c.do("PATCH", fmt.Sprintf("/api/v1/sites/%d", siteID(t, c, "demo")), body, out)
}

func TestWidgetSiteSettings(t *testing.T) {
	b := widgetNewBrowser(t)
	n := startNode(t, "")
	n.seed()
	// The page asks for red and its own launcher text: the admin's settings win.
	host := widgetHostPage(t, n.base, `<script>Switchboard('config', {color: '#ff0000', launcherText: 'Page text', greeting: 'Page greeting'});</script>`)
	widgetAllowOnly(t, n, host.URL)
	admin := n.login("admin@demo.test", "demo-admin-pass")
	if st := widgetPatchSite(t, admin, map[string]any{"widget": map[string]any{
		"color": "#0A7D38", "position": "left", "greeting": "Hello from the shop! We answer within minutes.",
		"launcher_text": "Ask us", "prechat": map[string]any{"name": "hidden", "email": "required", "department": "off"},
		"strings": map[string]string{"title": "Shop help", "start": "Start chatting"},
	}}, nil); st != 200 {
		t.Fatalf("PATCH widget settings: %d", st)
	}

	b.do(chromedp.Navigate(host.URL))
	b.waitFor("launcher in the site's settings", `q('.l') && q('.l').textContent === 'Ask us' && q('.l').style.left === '20px' &&
		q('.l').style.getPropertyValue('--c') === '#0a7d38' && q('.l').style.visibility !== 'hidden'`)
	b.screenshot("20-settings-launcher")

	b.do(chromedp.Click(widgetEl(".l")))
	b.waitFor("pre-chat form as configured", `!q('.p').hidden && q('#sb-f-email') && q('#sb-f-email').required && !q('#sb-f-name') &&
		!q('#sb-f-dept') && q('form.fm').textContent.includes('Hello from the shop!') && q('.h .t b').textContent === 'Shop help' &&
		q('form.fm button[type=submit]').textContent === 'Start chatting' && q('.p').style.left === '20px'`)
	b.do(chromedp.SendKeys(widgetEl("#sb-f-body"), "Do you ship to Norway?"), chromedp.Click(widgetEl("form.fm button[type=submit]")))
	b.waitFor("email required", `q('#sb-f-email-e').textContent !== '' && q('#sb-f-email').getAttribute('aria-invalid') === 'true'`)
	b.screenshot("21-settings-prechat")
	b.do(chromedp.SendKeys(widgetEl("#sb-f-email"), "nora@example.com"), chromedp.Click(widgetEl("form.fm button[type=submit]")))
	b.waitFor("greeting on top of the conversation", `q('.ms .gr') && q('.ms .gr').textContent.startsWith('Hello from the shop!') &&
		qa('.ms .m.me .bu').some(e => e.textContent === 'Do you ship to Norway?')`)
	b.screenshot("22-settings-chat")

	// The next page draws the launcher at once from the stored copy.
	var stored string
	if err := b.evalPage(`localStorage.getItem('sb:demo:wc')`, &stored); err != nil || !strings.Contains(stored, `"launcher_text":"Ask us"`) {
		t.Fatalf("stored widget config %q (%v)", stored, err)
	}
	b.do(chromedp.Reload())
	b.waitFor("launcher after reload", `q('.l') && q('.l').style.getPropertyValue('--c') === '#0a7d38' && q('.l').style.visibility !== 'hidden'`)

	// The public config: CORS for the allowed origin only, cacheable, typed errors.
	hc := &http.Client{}
	get := func(key, origin string, h map[string]string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", n.base+"/api/v1/visitor/widget/"+key, nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		for k, v := range h {
			req.Header.Set(k, v)
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		return res, string(raw)
	}
	res, body := get("demo", host.URL, nil)
	if res.StatusCode != 200 || res.Header.Get("Access-Control-Allow-Origin") != host.URL ||
		!strings.Contains(res.Header.Get("Cache-Control"), "public") || res.Header.Get("ETag") == "" || !strings.Contains(body, `"color":"#0a7d38"`) {
		t.Fatalf("config for the allowed origin: %d %v %s", res.StatusCode, res.Header, body)
	}
	if res2, _ := get("demo", host.URL, map[string]string{"If-None-Match": res.Header.Get("ETag")}); res2.StatusCode != 304 {
		t.Errorf("revalidation: %d, want 304", res2.StatusCode)
	}
	if res, body := get("demo", "https://evil.example", nil); res.StatusCode != 403 || res.Header.Get("Access-Control-Allow-Origin") != "" || !strings.Contains(body, `"code":"origin_not_allowed"`) {
		t.Errorf("config for another origin: %d %v %s", res.StatusCode, res.Header, body)
	}
	if res, body := get("bad%20key!", "", nil); res.StatusCode != 400 || !strings.Contains(body, `"code":"invalid_site_key"`) {
		t.Errorf("malformed key: %d %s", res.StatusCode, body)
	}
	if res, body := get("nosuchsite", "", nil); res.StatusCode != 404 || !strings.Contains(body, `"code":"site_not_found"`) {
		t.Errorf("unknown key: %d %s", res.StatusCode, body)
	}
}

// TestWidgetSettingsBadInput: refused settings get typed errors and change nothing.
func TestWidgetSettingsBadInput(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	admin := n.login("admin@demo.test", "demo-admin-pass")
	good := map[string]any{"color": "#123456", "greeting": "Hi"}
	if st := widgetPatchSite(t, admin, map[string]any{"widget": good}, nil); st != 200 {
		t.Fatalf("good settings: %d", st)
	}
	for _, c := range []struct {
		code string
		body map[string]any
	}{
		{"invalid_color", map[string]any{"widget": map[string]any{"color": "blue"}}},
		{"invalid_color", map[string]any{"widget": map[string]any{"color": "#12345z"}}},
		{"unknown_string_key", map[string]any{"widget": map[string]any{"strings": map[string]string{"nope": "x"}}}},
		{"greeting_too_long", map[string]any{"widget": map[string]any{"greeting": strings.Repeat("g", 501)}}},
		{"invalid_position", map[string]any{"widget": map[string]any{"position": "center"}}},
		{"invalid_prechat", map[string]any{"widget": map[string]any{"prechat": map[string]any{"email": "maybe"}}}},
		{"invalid_json", map[string]any{"widget": map[string]any{"colour": "#123456"}}},
		{"invalid_bot_answer", map[string]any{"bot": map[string]any{"answers": []map[string]any{{"question": "hours?"}}}}},
		{"invalid_widget_mode", map[string]any{"widget_mode": "robot"}},
	} {
		var p struct {
			Code string `json:"code"`
		}
		if st := widgetPatchSite(t, admin, c.body, &p); st != 400 || p.Code != c.code {
			t.Errorf("%v: %d %q, want 400 %q", c.body, st, p.Code, c.code)
		}
	}
	// Agents may not change settings.
	alice := n.login("alice@demo.test", "demo-agent-pass")
	if st := widgetPatchSite(t, alice, map[string]any{"widget": good}, nil); st != 403 {
		t.Errorf("agent PATCH: %d, want 403", st)
	}
	v := n.newVisitor("demo", "")
	var site struct {
		Widget map[string]any `json:"widget"`
	}
	if st := v.do("GET", "/api/v1/visitor/site", nil, &site); st != 200 || site.Widget["color"] != "#123456" || site.Widget["greeting"] != "Hi" {
		t.Fatalf("visitor site after refused changes: %d %+v", st, site.Widget)
	}
}

func TestWidgetHybridHandoff(t *testing.T) {
	b := widgetNewBrowser(t)
	n := startNode(t, "")
	n.seed()
	host := widgetHostPage(t, n.base, "")
	widgetAllowOnly(t, n, host.URL)
	admin := n.login("admin@demo.test", "demo-admin-pass")
	if st := widgetPatchSite(t, admin, map[string]any{"widget_mode": "hybrid", "bot": map[string]any{
		"name": "Robo", "greeting": "Hi, I am Robo, the shop's assistant.",
		"answers": []map[string]any{{"question": "What are your opening hours?", "keywords": []string{"hours", "open"}, "answer": "We are open 9 to 5, Monday to Friday."}},
	}}, nil); st != 200 {
		t.Fatalf("PATCH hybrid: %d", st)
	}
	aw := widgetAgent(t, n)

	b.do(chromedp.Navigate(host.URL))
	b.waitFor("launcher", `q('.l') && q('.l').style.visibility !== 'hidden'`)
	b.do(chromedp.Click(widgetEl(".l")))
	b.waitFor("assistant's form", `q('#sb-f-body') && q('form.fm').textContent.includes('our assistant answers') && q('form.fm button[type=submit]').textContent === 'Ask'`)
	b.do(
		chromedp.SendKeys(widgetEl("#sb-f-name"), "Vera"),
		chromedp.SendKeys(widgetEl("#sb-f-body"), "When are you open? What hours?"),
		chromedp.Click(widgetEl("form.fm button[type=submit]")),
	)
	b.waitFor("the assistant's answer", `qa('.ms .m.them .bu').some(e => e.textContent === 'We are open 9 to 5, Monday to Friday.') &&
		qa('.ms .m.them .w').some(e => e.textContent === 'Robo') && q('.hu button') && q('.hu button').textContent === 'Talk to a human'`)
	b.do(chromedp.SendKeys(widgetEl(".cmp textarea"), "Do you sell bikes?"), chromedp.Click(widgetEl(".cmp .sd")))
	b.waitFor("the fallback", `qa('.ms .m.them .bu').some(e => e.textContent.includes('Talk to a human'))`)
	b.screenshot("23-hybrid-assistant")
	// Agents were not offered it: no chat event for it yet.
	for _, f := range aw.drain(300 * time.Millisecond) {
		if f.Type == "chat" || (f.Type == "conversation" && strings.Contains(string(f.Data), `"chat_state":"bot"`)) {
			t.Fatalf("agent heard of the assistant's chat before the hand-off: %s %s", f.Type, f.Data)
		}
	}

	b.do(chromedp.Click(widgetEl(".hu button")))
	f := aw.waitEvent("chat", func(f frame) bool { return decode[chatEvent](t, f.Data).Chat.State == "waiting" })
	conv := f.ConversationID
	b.waitFor("waiting for a human", `!q('.hu') && q('.bn') && !q('.bn').hidden && /Waiting for an agent|Connecting you to an agent/.test(q('.bn').textContent)`)
	b.screenshot("24-hybrid-handoff")

	widgetJoin(t, aw, conv)
	alice := n.login("alice@demo.test", "demo-agent-pass")
	var out struct {
		Messages []struct {
			AuthorKind string `json:"author_kind"`
			AuthorName string `json:"author_name"`
			Body       string `json:"body"`
		} `json:"messages"`
	}
	if st := alice.do("GET", fmt.Sprintf("/api/v1/conversations/%d/messages?limit=100", conv), nil, &out); st != 200 {
		t.Fatalf("agent history: %d", st)
	}
	var bots []string
	for _, m := range out.Messages {
		if m.AuthorKind == "bot" {
			bots = append(bots, m.Body)
		}
	}
	if len(bots) != 3 || bots[1] != "We are open 9 to 5, Monday to Friday." {
		t.Fatalf("the agent sees the assistant's part as %q", bots)
	}
	widgetAgentSay(t, aw, conv, "a1", "Hi Vera, Alice here. Which bikes?")
	b.waitFor("agent joined and wrote", `q('.h .t b').textContent === 'Alice Agent' && qa('.ms .m.them .bu').some(e => e.textContent === 'Hi Vera, Alice here. Which bikes?')`)
	b.screenshot("25-hybrid-agent")
}

// TestConsoleWidgetSettings: an admin sets the widget and the assistant in
// the console's Settings → Widget; a typed refusal is shown; the saved
// settings reach the public widget config.
func TestConsoleWidgetSettings(t *testing.T) {
	browser := consoleNewBrowser(t)
	n := startNode(t, "")
	n.seed()
	shots := consoleArtifacts(t)
	admin := consolePage{t: t, ctx: browser, name: "admin"}
	admin.signIn(n.base, "admin@demo.test", "demo-admin-pass")
	admin.do(chromedp.Click(chromedp.ID("nav-settings")))
	admin.waitFor("the widget form", `document.querySelector('#widget-form') && document.querySelector('#widget-mode').value === 'live'`)

	admin.setField("#widget-strings", "titel: typo")
	admin.do(chromedp.Click(chromedp.ID("widget-save")))
	admin.waitFor("the refusal", `document.querySelector('#widget-error') && document.querySelector('#widget-error').textContent.includes('titel')`)

	admin.setField("#widget-color", "#0a7d38")
	admin.setField("#widget-position", "left")
	admin.setField("#widget-launcher-text", "Ask us")
	admin.setField("#widget-greeting", "Hello from the shop!")
	admin.setField("#widget-prechat-email", "required")
	admin.setField("#widget-strings", "title: Shop help")
	admin.setField("#widget-mode", "hybrid")
	admin.waitFor("the assistant's fields", `document.querySelector('#bot-add')`)
	admin.do(chromedp.Click(chromedp.ID("bot-add")))
	admin.waitFor("an answer row", `document.querySelector('#bot-q-0')`)
	admin.setField("#bot-q-0", "What are your opening hours?")
	admin.setField("#bot-k-0", "hours, open")
	admin.setField("#bot-a-0", "9 to 5.")
	admin.do(chromedp.Click(chromedp.ID("widget-save")))
	admin.waitFor("saved", `document.querySelector('#widget-saved') && !document.querySelector('#widget-error')`)
	_ = consoleEval[bool](admin, `(document.querySelector("#widget-title").scrollIntoView(), true)`)
	admin.screenshot(shots, "settings-widget")

	v := n.newVisitor("demo", "")
	var site struct {
		WidgetMode string         `json:"widget_mode"`
		Widget     map[string]any `json:"widget"`
	}
	if st := v.do("GET", "/api/v1/visitor/site", nil, &site); st != 200 || site.WidgetMode != "hybrid" || site.Widget["color"] != "#0a7d38" ||
		site.Widget["launcher_text"] != "Ask us" || site.Widget["position"] != "left" || fmt.Sprint(site.Widget["strings"]) != "map[title:Shop help]" {
		t.Fatalf("saved widget: %d %+v", st, site)
	}
	api := n.login("admin@demo.test", "demo-admin-pass")
	var sites struct {
		Sites []struct {
			Key string `json:"key"`
			Bot struct {
				Answers []struct {
					Keywords []string `json:"keywords"`
				} `json:"answers"`
			} `json:"bot"`
		} `json:"sites"`
	}
	if st := api.do("GET", "/api/v1/sites", nil, &sites); st != 200 || len(sites.Sites) == 0 || len(sites.Sites[0].Bot.Answers) != 1 ||
		strings.Join(sites.Sites[0].Bot.Answers[0].Keywords, "|") != "hours|open" {
		t.Fatalf("saved assistant: %d %+v", st, sites)
	}
}
