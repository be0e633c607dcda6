package chat

// The built-in assistant of the hybrid and assistant widget modes.
//
// In those modes a visitor's chat starts in state bot: nobody is offered it,
// it is in no queue, and every visitor message in it gets one answer from
// the site's configured answers (model.BotSettings), appended in the same
// transaction as the visitor's message. A retried message (same client id)
// is a duplicate and appends nothing, so it never gets a second answer; the
// answer's own client id ("bot:" and the visitor message's id) makes that
// hold even if a second writer tried.
//
// Matching is deliberately simple and predictable for the admin who writes
// the answers: text is cut into lower-case words (letters and digits, a
// trailing plural "s" dropped, common English filler words ignored). An
// answer scores one point per keyword (or keyword phrase) whose words all
// occur in the message, plus the share of its question's words that occur
// in the message. It matches with at least one keyword, or with half of its
// question's words; the best score wins, the earlier answer on a tie. No
// match gives the fallback, which offers a human (hybrid) or the offline
// form (assistant).
//
// Hand-off (Handoff, "Talk to a human") moves the chat bot → waiting and
// into its department's queue exactly as a request for a human does in live
// mode; the agent who joins sees the whole timeline, the bot's part too.

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"switchboard/internal/apperr"
	"switchboard/internal/model"
	"switchboard/internal/store"
)

// Bounds of the assistant's settings.
const (
	maxBotAnswers   = 200
	maxBotKeywords  = 20
	maxBotQuestion  = 500
	maxBotKeyword   = 60
	maxBotAnswer    = 4000
	maxBotName      = 60
	defaultBotName  = "Assistant"
	fallbackHybrid  = "Sorry, I don't have an answer to that. Tap \u201cTalk to a human\u201d and a person from our team will help you."
	fallbackOffline = "Sorry, I don't have an answer to that. Leave us a message and we will reply by email."
)

// validateBot checks and normalises a site's assistant settings.
func validateBot(b model.BotSettings) (model.BotSettings, error) {
	b.Name = strings.TrimSpace(b.Name)
	if err := checkText("bot_name", "bot.name", b.Name, maxBotName, false); err != nil {
		return b, err
	}
	b.Greeting, b.Fallback = strings.TrimSpace(b.Greeting), strings.TrimSpace(b.Fallback)
	if err := checkText("bot_greeting", "bot.greeting", b.Greeting, maxBotAnswer, true); err != nil {
		return b, err
	}
	if err := checkText("bot_fallback", "bot.fallback", b.Fallback, maxBotAnswer, true); err != nil {
		return b, err
	}
	if len(b.Answers) > maxBotAnswers {
		return b, apperr.Invalid("too_many_bot_answers", fmt.Sprintf("at most %d answers", maxBotAnswers))
	}
	out := make([]model.BotAnswer, 0, len(b.Answers))
	for i, a := range b.Answers {
		at := fmt.Sprintf("bot.answers[%d]", i)
		a.Question, a.Answer = strings.TrimSpace(a.Question), strings.TrimSpace(a.Answer)
		if err := checkText("bot_question", at+".question", a.Question, maxBotQuestion, false); err != nil {
			return b, err
		}
		if err := checkText("bot_answer", at+".answer", a.Answer, maxBotAnswer, true); err != nil {
			return b, err
		}
		if len(a.Keywords) > maxBotKeywords {
			return b, apperr.Invalid("too_many_bot_keywords", fmt.Sprintf("%s has more than %d keywords", at, maxBotKeywords))
		}
		kws := make([]string, 0, len(a.Keywords))
		for _, k := range a.Keywords {
			k = strings.TrimSpace(k)
			if err := checkText("bot_keyword", at+".keywords", k, maxBotKeyword, false); err != nil {
				return b, err
			}
			if len(words(k)) > 0 {
				kws = append(kws, k)
			}
		}
		if len(kws) == 0 {
			kws = nil
		}
		a.Keywords = kws
		if a.Answer == "" || (len(words(a.Question)) == 0 && len(a.Keywords) == 0) {
			return b, apperr.Invalid("invalid_bot_answer", at+" needs an answer and a question or keywords")
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		out = nil
	}
	b.Answers = out
	return b, nil
}

// stopWords are ignored when matching: they occur in any question.
var stopWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields("a an the is are am was were be been do doe did i me my we our you your it its " +
		"to of in on at for from by with and or but if can could would should will how what when where which who why " +
		"there this that these those have ha had not no please hi hello hey thank thanks any some get") {
		m[w] = true
	}
	return m
}()

// words cuts text into matching words: lower case, letters and digits,
// a trailing plural "s" dropped, filler words left out.
func words(text string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) }) {
		if utf8.RuneCountInString(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") {
			w = strings.TrimSuffix(w, "s")
		}
		if !stopWords[w] {
			out = append(out, w)
		}
	}
	return out
}

// MatchAnswer returns the index of the answer for a visitor's message, or
// -1 for none (see the package comment at the top of bot.go for the rule).
func MatchAnswer(answers []model.BotAnswer, message string) int {
	have := map[string]bool{}
	for _, w := range words(message) {
		have[w] = true
	}
	best, bestScore := -1, 0.0
	for i, a := range answers {
		kw := 0
		for _, k := range a.Keywords {
			ws := words(k)
			all := len(ws) > 0
			for _, w := range ws {
				all = all && have[w]
			}
			if all {
				kw++
			}
		}
		q := words(a.Question)
		share := 0.0
		if len(q) > 0 {
			n := 0
			seen := map[string]bool{}
			for _, w := range q {
				if have[w] && !seen[w] {
					n++
				}
				seen[w] = true
			}
			share = float64(n) / float64(len(seen))
		}
		if kw == 0 && share < 0.5 {
			continue
		}
		if score := float64(kw) + share; score > bestScore {
			best, bestScore = i, score
		}
	}
	return best
}

// botReply is the assistant's answer to a visitor's message.
func botReply(site model.Site, body string) string {
	if i := MatchAnswer(site.Bot.Answers, body); i >= 0 {
		return site.Bot.Answers[i].Answer
	}
	if site.Bot.Fallback != "" {
		return site.Bot.Fallback
	}
	if site.WidgetMode == model.ModeAssistant {
		return fallbackOffline
	}
	return fallbackHybrid
}

func botName(site model.Site) string {
	if site.Bot.Name != "" {
		return site.Bot.Name
	}
	return defaultBotName
}

// appendBot appends one assistant message, once per client id: nil when
// the conversation already has it.
func (s *Service) appendBot(ctx context.Context, tx store.Tx, site model.Site, convID, chatID int64, clientID, body string) (*model.Message, error) {
	m := model.Message{ConversationID: convID, ChatID: chatID, AuthorKind: model.PartyBot, AuthorName: botName(site),
		ClientID: clientID, Kind: model.KindText, Visibility: model.Public, Body: body, CreatedAt: s.now()}
	if err := tx.AppendMessage(ctx, &m); err != nil {
		if apperr.CodeOf(err) == "duplicate_client_id" {
			return nil, nil
		}
		return nil, err
	}
	return &m, nil
}

// botAnswer is the hook in the visitor send path: a visitor's new message
// (never a duplicate) in a chat with the assistant gets its answer in the
// same transaction, published after commit. Anything else passes.
func (s *Service) botAnswer(ctx context.Context, tx store.Tx, ref convRef, conv model.Conversation, m model.Message) error {
	if m.AuthorKind != model.PartyVisitor || conv.ChatState != model.ChatBot || m.Body == "" {
		return nil
	}
	site, err := tx.GetSite(ctx, conv.SiteID)
	if err != nil {
		return err
	}
	reply, err := s.appendBot(ctx, tx, site, conv.ID, conv.ChatID, fmt.Sprintf("bot:%d", m.ID), botReply(site, m.Body))
	if err != nil || reply == nil {
		return err
	}
	r := *reply
	tx.OnCommit(func() { s.publishMessage(ref, r) })
	return nil
}

// latestChat returns the visitor's newest conversation on the site (zero if
// none) and its live chat (zero if it has none).
func latestChat(ctx context.Context, tx store.Tx, a Actor) (model.Conversation, model.Chat, error) {
	page, err := tx.ListConversations(ctx, store.ConversationFilter{SiteID: a.SiteID, ContactID: a.ContactID, Limit: 1})
	if err != nil || len(page.Conversations) == 0 {
		return model.Conversation{}, model.Chat{}, err
	}
	conv := page.Conversations[0]
	if conv.ChatID == 0 || !conv.ChatState.Live() {
		return conv, model.Chat{}, nil
	}
	chatRow, err := tx.GetChat(ctx, conv.ChatID)
	return conv, chatRow, err
}

// startChat starts a widget chat in state for the visitor: in conv, their
// newest conversation, unless there is none or it is closed (then in a new
// one), with the conversation's status, department and no assignee.
func (s *Service) startChat(ctx context.Context, tx store.Tx, a Actor, conv model.Conversation, state model.ChatState,
	status model.TicketStatus, dept int64, now time.Time) (model.Conversation, model.Chat, error) {
	if conv.ID == 0 || conv.Status == model.StatusClosed {
		var err error
		if conv, err = s.newConversation(ctx, tx, a.SiteID, a.ContactID, "widget", now); err != nil {
			return conv, model.Chat{}, err
		}
	}
	chatRow := model.Chat{ConversationID: conv.ID, State: state, RequestedAt: now}
	if err := tx.CreateChat(ctx, &chatRow); err != nil {
		return conv, chatRow, err
	}
	conv.ChatID, conv.ChatState, conv.Status, conv.UpdatedAt = chatRow.ID, chatRow.State, status, now
	conv.DepartmentID, conv.AssigneeID = dept, 0
	return conv, chatRow, tx.UpdateConversation(ctx, conv)
}

// saveClaim stores the name and email a visitor gave with a chat request
// (already validated) on their contact.
func saveClaim(ctx context.Context, tx store.Tx, a *Actor, name, email string) error {
	if name == "" && email == "" {
		return nil
	}
	c, err := tx.GetContact(ctx, a.ContactID)
	if err != nil {
		return err
	}
	if name != "" {
		c.Name = name
	}
	if email != "" {
		c.Email = email
	}
	a.Name = c.Name
	return tx.UpdateContact(ctx, c)
}

// requestBotChat is RequestChat for the hybrid and assistant modes: the
// visitor's newest live chat, or a new chat in state bot (no queue, no
// offer: agents do not see it until the hand-off), with the site's
// assistant greeting; a first question gets its answer at once. The chosen
// department is kept on the conversation for the hand-off. Business hours
// do not apply to the assistant (they apply to the hand-off).
func (s *Service) requestBotChat(ctx context.Context, a Actor, site model.Site, in RequestChatInput) (VisitorView, error) {
	dept, err := s.chooseDepartment(ctx, site, in.DepartmentID)
	if err != nil {
		return VisitorView{}, err
	}
	ref := convRef{SiteID: a.SiteID, ContactID: a.ContactID}
	var (
		conv     model.Conversation
		chatView ChatView
	)
	err = s.st.InTx(ctx, func(tx store.Tx) error {
		var sent []model.Message
		now := s.now()
		if err := saveClaim(ctx, tx, &a, in.Name, in.Email); err != nil {
			return err
		}
		var chatRow model.Chat
		var err error
		if conv, chatRow, err = latestChat(ctx, tx, a); err != nil {
			return err
		}
		if chatRow.ID == 0 {
			// A chat with the assistant needs nobody: it is no open ticket
			// (the Inbox would fill with every visitor's questions) until the
			// visitor asks for a human.
			if conv, chatRow, err = s.startChat(ctx, tx, a, conv, model.ChatBot, model.StatusClosed, dept, now); err != nil {
				return err
			}
			if site.Bot.Greeting != "" {
				g, err := s.appendBot(ctx, tx, site, conv.ID, chatRow.ID, fmt.Sprintf("bot-greeting:%d", chatRow.ID), site.Bot.Greeting)
				if err != nil {
					return err
				}
				if g != nil {
					sent = append(sent, *g)
				}
			}
		}
		if in.Body != "" {
			m, dup, err := s.appendText(ctx, tx, a, conv.ID, chatRow.ID, in.ClientID, in.Body, nil)
			if err != nil {
				return err
			}
			if !dup {
				sent = append(sent, m)
				if chatRow.State == model.ChatBot {
					r, err := s.appendBot(ctx, tx, site, conv.ID, chatRow.ID, fmt.Sprintf("bot:%d", m.ID), botReply(site, m.Body))
					if err != nil {
						return err
					}
					if r != nil {
						sent = append(sent, *r)
					}
				}
			}
		}
		if conv, err = tx.GetConversation(ctx, conv.ID); err != nil {
			return err
		}
		if chatView, err = s.chatView(ctx, tx, chatRow.ID); err != nil {
			return err
		}
		c := conv
		tx.OnCommit(func() {
			s.refs.put(c.ID, ref)
			// No conversation or chat event for a new chat with the
			// assistant: staff hear of it at the hand-off, the visitor
			// has it in this reply.
			for _, m := range sent {
				s.publishMessage(ref, m)
			}
		})
		return nil
	})
	if err != nil {
		return VisitorView{}, err
	}
	v := VisitorView{Conversation: visitorConversation(conv), Chat: &chatView}
	if st := chatView.Chat.State; st == model.ChatWaiting || st == model.ChatPending {
		if v.Queue, err = s.queueStatusOf(ctx, chatView.Chat.ID); err != nil {
			return VisitorView{}, err
		}
	}
	return v, nil
}

// Handoff moves the visitor's chat with the assistant to a human ("Talk to
// a human"): bot → waiting, into the department's queue (departmentID, or
// the one chosen with the chat, or the site's default), routed as any chat
// request. A chat already handed off is returned as it is, so a retried tap
// changes nothing. Refused with humans_not_available on assistant-only
// sites, and outside business hours (or with nobody online when the site
// says so) with outside_business_hours / nobody_available: the chat stays
// with the assistant and the widget offers the offline form.
func (s *Service) Handoff(ctx context.Context, a Actor, convID, departmentID int64) (VisitorView, error) {
	if a.Party != model.PartyVisitor {
		return VisitorView{}, apperr.Forbidden("visitors_only", "only visitors ask for a human")
	}
	ref, err := s.authorize(ctx, a, convID)
	if err != nil {
		return VisitorView{}, err
	}
	site, err := s.st.GetSite(ctx, a.SiteID)
	if err != nil {
		return VisitorView{}, err
	}
	conv, err := s.st.GetConversation(ctx, convID)
	if err != nil {
		return VisitorView{}, err
	}
	if conv.ChatID == 0 || !conv.ChatState.Live() {
		return VisitorView{}, apperr.Conflict("no_live_chat", "there is no live chat in this conversation")
	}
	if conv.ChatState == model.ChatBot {
		if site.WidgetMode == model.ModeAssistant {
			return VisitorView{}, apperr.Conflict("humans_not_available", "this site is answered by its assistant only")
		}
		if departmentID == 0 {
			departmentID = conv.DepartmentID
		}
		dept, err := s.chooseDepartment(ctx, site, departmentID)
		if err != nil {
			return VisitorView{}, err
		}
		k := queueKey{site.ID, dept}
		qs, err := s.settingsFor(ctx, s.st, k)
		if err != nil {
			return VisitorView{}, err
		}
		if !qs.open(s.clk.Now()) {
			return VisitorView{}, apperr.Conflict("outside_business_hours", afterHoursMessage(site))
		}
		if site.Routing.OfflineWhenUnavailable {
			staffed, err := s.anyoneOnline(ctx, k)
			if err != nil {
				return VisitorView{}, err
			}
			if !staffed {
				return VisitorView{}, apperr.Conflict("nobody_available", afterHoursMessage(site))
			}
		}
		err = s.st.InTx(ctx, func(tx store.Tx) error {
			conv, cv, err := s.liveChat(ctx, tx, convID)
			if err != nil || cv.Chat.State != model.ChatBot {
				return err // handed off meanwhile: nothing to do
			}
			now := s.now()
			chatRow := cv.Chat
			// The wait is measured from the hand-off: the time with the
			// assistant was nobody's wait.
			chatRow.State, chatRow.RequestedAt = model.ChatWaiting, now
			if err := tx.UpdateChat(ctx, chatRow); err != nil {
				return err
			}
			conv.ChatState, conv.Status, conv.DepartmentID, conv.AssigneeID, conv.UpdatedAt = model.ChatWaiting, model.StatusOpen, dept, 0, now
			if err := tx.UpdateConversation(ctx, conv); err != nil {
				return err
			}
			e, err := s.enqueue(ctx, tx, conv, chatRow, qs)
			if err != nil {
				return err
			}
			ev, err := s.appendEvent(ctx, tx, conv.ID, chatRow.ID, model.EventChatRequested, "Waiting for an agent to join")
			if err != nil {
				return err
			}
			var view ConversationView
			if err := s.finish(ctx, tx, ref, conv.ID, ev, &view); err != nil {
				return err
			}
			tx.OnCommit(func() {
				s.router.scheduleMaxWait(e)
				s.router.kick(k)
			})
			return nil
		})
		if err != nil {
			return VisitorView{}, err
		}
	}
	return s.VisitorConversation(ctx, a, convID)
}
