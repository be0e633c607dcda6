package chat_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"switchboard/internal/chat"
	"switchboard/internal/model"
)

func TestWidgetSettingsValidation(t *testing.T) {
	f := newFixture(t)
	upd := func(w model.WidgetSettings) (model.Site, error) {
		return f.svc.UpdateSite(f.ctx, f.admin, f.site.ID, chat.SiteInput{Widget: &w})
	}
	bad := []struct {
		code string
		w    model.WidgetSettings
	}{
		{"invalid_color", model.WidgetSettings{Color: "red"}},
		{"invalid_color", model.WidgetSettings{Color: "#12345"}},
		{"invalid_color", model.WidgetSettings{Color: "#12345g"}},
		{"invalid_position", model.WidgetSettings{Position: "top"}},
		{"greeting_too_long", model.WidgetSettings{Greeting: strings.Repeat("é", 501)}},
		{"invalid_greeting", model.WidgetSettings{Greeting: "hi\x00"}},
		{"launcher_text_too_long", model.WidgetSettings{LauncherText: strings.Repeat("x", 41)}},
		{"invalid_launcher_text", model.WidgetSettings{LauncherText: "a\nb"}},
		{"invalid_prechat", model.WidgetSettings{Prechat: model.PrechatSettings{Email: "mandatory"}}},
		{"invalid_prechat", model.WidgetSettings{Prechat: model.PrechatSettings{Question: "hidden"}}},
		{"invalid_prechat", model.WidgetSettings{Prechat: model.PrechatSettings{Department: "yes"}}},
		{"unknown_string_key", model.WidgetSettings{Strings: map[string]string{"titel": "x"}}},
		{"string_too_long", model.WidgetSettings{Strings: map[string]string{"title": strings.Repeat("x", 501)}}},
		{"invalid_language", model.WidgetSettings{Language: "english!"}},
		{"invalid_dir", model.WidgetSettings{Dir: "up"}},
	}
	for _, c := range bad {
		_, err := upd(c.w)
		wantCode(t, err, c.code)
	}
	if got := must(f.st.GetSite(f.ctx, f.site.ID)).Widget; !reflectZero(got) {
		t.Fatalf("a refused update wrote %+v", got)
	}
	site := must(upd(model.WidgetSettings{Color: " #0A7D38 ", Position: "left", Greeting: "  Hello!\nAsk away. ", LauncherText: "Help",
		Prechat: model.PrechatSettings{Name: "hidden", Email: "required", Department: "off", Question: "on"},
		Strings: map[string]string{"title": "Talk to us", "send": " "}, Language: "de-DE", Dir: "rtl"}))
	want := model.WidgetSettings{Color: "#0a7d38", Position: "left", Greeting: "Hello!\nAsk away.", LauncherText: "Help",
		Prechat: model.PrechatSettings{Name: "hidden", Email: "required", Department: "off", Question: "on"},
		Strings: map[string]string{"title": "Talk to us"}, Language: "de-DE", Dir: "rtl"}
	if b1, b2 := jsonOf(site.Widget), jsonOf(want); b1 != b2 {
		t.Fatalf("stored %s, want %s", b1, b2)
	}
	// Visitors get it before a session (by key) and with one.
	cfg := must(f.svc.PublicWidgetConfig(f.ctx, f.site.Key, ""))
	if jsonOf(cfg.WidgetSettings) != jsonOf(want) || cfg.Key != f.site.Key || cfg.WidgetMode != model.ModeLive {
		t.Fatalf("public config %+v", cfg)
	}
	vs := must(f.svc.StartVisitor(f.ctx, f.site.Key, ""))
	if jsonOf(vs.Site.Widget) != jsonOf(want) {
		t.Fatalf("visitor site widget %+v", vs.Site.Widget)
	}
	_, err := f.svc.PublicWidgetConfig(f.ctx, "bad key!", "")
	wantCode(t, err, "invalid_site_key")
	_, err = f.svc.PublicWidgetConfig(f.ctx, "nosuchkey", "")
	wantCode(t, err, "site_not_found")
	origins := []string{"https://shop.example"}
	must(f.svc.UpdateSite(f.ctx, f.admin, f.site.ID, chat.SiteInput{AllowedOrigins: &origins}))
	_, err = f.svc.PublicWidgetConfig(f.ctx, f.site.Key, "https://evil.example")
	wantCode(t, err, "origin_not_allowed")
	must(f.svc.PublicWidgetConfig(f.ctx, f.site.Key, "https://shop.example"))
	// Agents may not change it.
	w := model.WidgetSettings{Color: "#000000"}
	_, err = f.svc.UpdateSite(f.ctx, f.agent, f.site.ID, chat.SiteInput{Widget: &w})
	wantCode(t, err, "admin_only")
}

func reflectZero(w model.WidgetSettings) bool { return jsonOf(w) == jsonOf(model.WidgetSettings{}) }

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestWidgetStringKeysMatchWidget keeps the server's list of overridable
// strings equal to the widget's string table.
func TestWidgetStringKeysMatchWidget(t *testing.T) {
	src, err := os.ReadFile("../../web/widget/src/strings.ts")
	if err != nil {
		t.Fatal(err)
	}
	body := string(src)
	body = body[strings.Index(body, "export const STRINGS"):]
	body = body[:strings.Index(body, "\n};")]
	var keys []string
	for _, m := range regexp.MustCompile(`(?m)^  ([A-Za-z]+):`).FindAllStringSubmatch(body, -1) {
		keys = append(keys, m[1])
	}
	got := slices.Clone(chat.WidgetStringKeys)
	slices.Sort(got)
	slices.Sort(keys)
	if !slices.Equal(got, keys) {
		t.Fatalf("chat.WidgetStringKeys %v\nstrings.ts %v", got, keys)
	}
}

func TestBotValidation(t *testing.T) {
	f := newFixture(t)
	upd := func(b model.BotSettings) error {
		_, err := f.svc.UpdateSite(f.ctx, f.admin, f.site.ID, chat.SiteInput{Bot: &b})
		return err
	}
	many := make([]model.BotAnswer, 201)
	for i := range many {
		many[i] = model.BotAnswer{Question: "q", Answer: "a"}
	}
	wantCode(t, upd(model.BotSettings{Answers: many}), "too_many_bot_answers")
	wantCode(t, upd(model.BotSettings{Answers: []model.BotAnswer{{Question: "hours?", Answer: ""}}}), "invalid_bot_answer")
	wantCode(t, upd(model.BotSettings{Answers: []model.BotAnswer{{Question: "the", Answer: "x"}}}), "invalid_bot_answer")
	wantCode(t, upd(model.BotSettings{Answers: []model.BotAnswer{{Question: "q", Answer: strings.Repeat("x", 4001)}}}), "bot_answer_too_long")
	wantCode(t, upd(model.BotSettings{Name: strings.Repeat("x", 61)}), "bot_name_too_long")
	if err := upd(model.BotSettings{Answers: []model.BotAnswer{{Keywords: []string{" refund ", ""}, Answer: " 30 days "}}}); err != nil {
		t.Fatal(err)
	}
	got := must(f.st.GetSite(f.ctx, f.site.ID)).Bot
	if jsonOf(got) != `{"answers":[{"question":"","keywords":["refund"],"answer":"30 days"}]}` {
		t.Fatalf("stored %s", jsonOf(got))
	}
}

func TestBotMatching(t *testing.T) {
	answers := []model.BotAnswer{
		{Question: "What are your opening hours?", Keywords: []string{"hours", "opening time"}, Answer: "9-5"},
		{Question: "How long does shipping take?", Keywords: []string{"delivery"}, Answer: "2 days"},
		{Question: "Can I get a refund?", Keywords: []string{"refund", "money back"}, Answer: "30 days"},
	}
	for msg, want := range map[string]int{
		"when are you open? what hours":       0,
		"What time is the opening time":       0,
		"how long does SHIPPING take to Oslo": 1,
		"Where is my delivery":                1,
		"I want my money back!":               2,
		"refunds please":                      2,
		"do you sell bicycles":                -1,
		"the":                                 -1,
		"":                                    -1,
	} {
		if got := chat.MatchAnswer(answers, msg); got != want {
			t.Errorf("MatchAnswer(%q) = %d, want %d", msg, got, want)
		}
	}
}

// botSite switches the fixture's site to a mode with the assistant.
func (f *fixture) botSite(mode model.WidgetMode) {
	f.t.Helper()
	bot := model.BotSettings{Name: "Robo", Greeting: "Hi, I am Robo.", Answers: []model.BotAnswer{
		{Question: "What are your opening hours?", Keywords: []string{"hours"}, Answer: "We are open 9 to 5."}}}
	must(f.svc.UpdateSite(f.ctx, f.admin, f.site.ID, chat.SiteInput{WidgetMode: &mode, Bot: &bot}))
}

func TestHybridBotAnswersOnceThenHandsOff(t *testing.T) {
	f := newFixture(t)
	f.botSite(model.ModeHybrid)
	f.goOnline(f.agent)
	v := f.visitor()
	view := must(f.svc.RequestChat(f.ctx, v, chat.RequestChatInput{Body: "what are your hours?", ClientID: "c1"}))
	f.svc.SettleRouting()
	conv, chatID := view.Conversation.ID, view.Chat.Chat.ID
	if view.Chat.Chat.State != model.ChatBot || view.Queue != nil {
		t.Fatalf("hybrid request: %+v", view)
	}
	// In no queue, offered to nobody, not joinable.
	if p := f.pending(chatID); len(p) != 0 {
		t.Fatalf("bot chat offered to %v", p)
	}
	if _, err := f.st.GetQueueEntry(f.ctx, chatID); err == nil {
		t.Fatal("bot chat is in the queue")
	}
	_, err := f.svc.Join(f.ctx, f.agent, conv)
	wantCode(t, err, "chat_with_bot")
	// The same question again (a retry), then a new one the bot cannot answer.
	must(f.svc.RequestChat(f.ctx, v, chat.RequestChatInput{Body: "what are your hours?", ClientID: "c1"}))
	must(f.svc.Send(f.ctx, v, chat.SendInput{ConversationID: conv, ClientID: "c2", Body: "do you sell bikes?"}))
	must(f.svc.Send(f.ctx, v, chat.SendInput{ConversationID: conv, ClientID: "c2", Body: "do you sell bikes?"}))
	msgs := must(f.svc.History(f.ctx, v, conv, 0, 100))
	var got []string
	for _, m := range msgs {
		got = append(got, string(m.AuthorKind)+": "+m.Body)
		if m.AuthorKind == model.PartyBot && m.AuthorName != "Robo" {
			t.Errorf("bot message author %q", m.AuthorName)
		}
	}
	want := []string{"bot: Hi, I am Robo.", "visitor: what are your hours?", "bot: We are open 9 to 5.",
		"visitor: do you sell bikes?", "bot: " + "Sorry, I don't have an answer to that. Tap \u201cTalk to a human\u201d and a person from our team will help you."}
	if !slices.Equal(got, want) {
		t.Fatalf("timeline\n%q\nwant\n%q", got, want)
	}
	// Staff heard nothing of the chat before the hand-off.
	f.mu.Lock()
	evs := slices.Clone(f.events)
	f.mu.Unlock()
	for _, e := range evs {
		if e.ConversationID == conv && (e.Type == "conversation" || e.Type == "chat") {
			t.Fatalf("event %s before the hand-off", e.Type)
		}
	}
	f.clk.Advance(time.Minute)
	hv := must(f.svc.Handoff(f.ctx, v, conv, 0))
	if hv.Chat == nil || hv.Chat.Chat.State == model.ChatBot {
		t.Fatalf("after hand-off: %+v", hv)
	}
	f.svc.SettleRouting()
	if _, err := f.st.GetQueueEntry(f.ctx, chatID); err != nil {
		t.Fatalf("handed-off chat not in the queue: %v", err)
	}
	if n := len(eventsOf[model.Conversation](f, "conversation")); n == 0 {
		t.Fatal("staff were not told of the handed-off chat")
	}
	if c := must(f.st.GetChat(f.ctx, chatID)); !c.RequestedAt.Equal(f.clk.Now().UTC().Truncate(time.Microsecond)) {
		t.Fatalf("requested at %v: the wait counts from the hand-off", c.RequestedAt)
	}
	// A second tap changes nothing; the agent joins and sees the bot's part.
	must(f.svc.Handoff(f.ctx, v, conv, 0))
	must(f.svc.Join(f.ctx, f.agent, conv))
	staff := must(f.svc.History(f.ctx, f.agent, conv, 0, 100))
	bots, requested := 0, 0
	for _, m := range staff {
		if m.AuthorKind == model.PartyBot {
			bots++
		}
		if m.Event == model.EventChatRequested {
			requested++
		}
	}
	if bots != 3 || requested != 1 {
		t.Fatalf("agent sees %d bot messages and %d requests, want 3 and 1", bots, requested)
	}
	// After the hand-off the bot is quiet.
	must(f.svc.Send(f.ctx, v, chat.SendInput{ConversationID: conv, ClientID: "c3", Body: "hours?"}))
	if n := len(must(f.svc.History(f.ctx, v, conv, 0, 100))); n != len(staff)+1 {
		t.Fatalf("timeline has %d entries, want %d: the bot answered a human chat", n, len(staff)+1)
	}
	// Another visitor may not hand off this chat.
	_, err = f.svc.Handoff(f.ctx, f.visitor(), conv, 0)
	wantCode(t, err, "conversation_not_found")
}

func TestAssistantModeHasNoHandoff(t *testing.T) {
	f := newFixture(t)
	f.botSite(model.ModeAssistant)
	v := f.visitor()
	view := must(f.svc.RequestChat(f.ctx, v, chat.RequestChatInput{Body: "anything about bikes?", ClientID: "a1"}))
	if view.Chat.Chat.State != model.ChatBot {
		t.Fatalf("assistant request: %+v", view.Chat.Chat)
	}
	msgs := must(f.svc.History(f.ctx, v, view.Conversation.ID, 0, 100))
	if last := msgs[len(msgs)-1]; last.AuthorKind != model.PartyBot || !strings.Contains(last.Body, "Leave us a message") {
		t.Fatalf("assistant fallback %+v", last)
	}
	_, err := f.svc.Handoff(f.ctx, v, view.Conversation.ID, 0)
	wantCode(t, err, "humans_not_available")
	// The offline form is the way to people.
	must(f.svc.LeaveMessage(f.ctx, v, chat.LeaveMessageInput{Email: "v@x.test", Body: "call me", ClientID: "off1"}))
}

func TestHandoffOutsideHoursKeepsTheBot(t *testing.T) {
	f := newFixture(t)
	f.botSite(model.ModeHybrid)
	hours := json.RawMessage(`{"time_zone":"Europe/Paris","weekly":[[],[{"start":"13:00","end":"18:00"}],[],[],[],[],[]]}`)
	rs := model.RoutingSettings{AfterHoursMessage: "Back at 1pm"}
	must(f.svc.UpdateSite(f.ctx, f.admin, f.site.ID, chat.SiteInput{Routing: &rs, Hours: &hours}))
	v := f.visitor()
	view := must(f.svc.RequestChat(f.ctx, v, chat.RequestChatInput{}))
	if view.Chat.Chat.State != model.ChatBot {
		t.Fatalf("the assistant answers outside hours too: %+v", view.Chat.Chat)
	}
	_, err := f.svc.Handoff(f.ctx, v, view.Conversation.ID, 0)
	wantCode(t, err, "outside_business_hours")
	if st := f.chatState(view.Chat.Chat.ID); st != model.ChatBot {
		t.Fatalf("state %s after a refused hand-off", st)
	}
	f.clk.Advance(time.Hour) // 13:00 in Paris
	must(f.svc.Handoff(f.ctx, v, view.Conversation.ID, 0))
	if st := f.chatState(view.Chat.Chat.ID); st != model.ChatWaiting {
		t.Fatalf("state %s after the hand-off", st)
	}
}
