package email

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"

	"switchboard/internal/apperr"
	"switchboard/internal/model"
)

// parsed is a built message read back with go-message.
type parsed struct {
	Header gomail.Header
	Parts  map[string]string // content type → decoded body
}

func parseMail(t *testing.T, raw []byte) parsed {
	t.Helper()
	r, err := gomail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("CreateReader: %v\n%s", err, raw)
	}
	p := parsed{Header: r.Header, Parts: map[string]string{}}
	for {
		part, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("NextPart: %v", err)
		}
		h, ok := part.Header.(*gomail.InlineHeader)
		if !ok {
			t.Fatalf("unexpected attachment part")
		}
		ct, params, _ := h.ContentType()
		if !strings.EqualFold(params["charset"], "utf-8") {
			t.Errorf("%s part: charset %q, want utf-8", ct, params["charset"])
		}
		if cte := h.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
			t.Errorf("%s part: Content-Transfer-Encoding %q", ct, cte)
		}
		b, err := io.ReadAll(part.Body)
		if err != nil {
			t.Fatal(err)
		}
		p.Parts[ct] = string(b)
	}
	return p
}

func checkWireFormat(t *testing.T, raw []byte) {
	t.Helper()
	for i, line := range bytes.Split(raw, []byte("\r\n")) {
		if bytes.IndexByte(line, '\n') >= 0 || bytes.IndexByte(line, '\r') >= 0 {
			t.Fatalf("line %d has a bare CR or LF: %q", i+1, line)
		}
		if len(line) > 998 {
			t.Fatalf("line %d is %d bytes long", i+1, len(line))
		}
		for _, c := range line {
			if c >= 0x80 {
				t.Fatalf("line %d is not 7-bit: %q", i+1, line)
			}
		}
	}
	if !bytes.HasSuffix(raw, []byte("\r\n")) {
		t.Fatal("message does not end with CRLF")
	}
}

func TestBuildParsesBack(t *testing.T) {
	date := time.Date(2025, 3, 4, 10, 30, 0, 0, time.UTC)
	longLine := strings.Repeat("très long ", 40)
	o := Outgoing{
		FromName: "Équipe Café ☕", From: "support@example.com", To: "jane@example.org",
		ReplyTo: ReplyAddress(testSecret, "example.com", 12), Subject: "Votre conversation — ça va? 你好",
		MessageID: "m1@example.com", InReplyTo: "conversation-12@example.com",
		References:    []string{"conversation-12@example.com", "prev@example.com"},
		Text:          "Bonjour Jane,\n=equals= and a dot:\n.\n" + longLine + "\nfin",
		HTML:          "<p>Bonjour <b>Jane</b> — ça va?</p>",
		AutoSubmitted: true, Date: date,
	}
	raw, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	checkWireFormat(t, raw)
	p := parseMail(t, raw)
	h := p.Header
	if subj, err := h.Subject(); err != nil || subj != o.Subject {
		t.Errorf("Subject = %q, %v; want %q", subj, err, o.Subject)
	}
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != o.FromName || from[0].Address != o.From {
		t.Errorf("From = %v, %v", from, err)
	}
	to, _ := h.AddressList("To")
	if len(to) != 1 || to[0].Address != o.To {
		t.Errorf("To = %v", to)
	}
	rt, _ := h.AddressList("Reply-To")
	if len(rt) != 1 || rt[0].Address != o.ReplyTo {
		t.Errorf("Reply-To = %v", rt)
	}
	if id, _ := h.MessageID(); id != "m1@example.com" {
		t.Errorf("Message-Id = %q", id)
	}
	if ids, _ := h.MsgIDList("In-Reply-To"); len(ids) != 1 || ids[0] != o.InReplyTo {
		t.Errorf("In-Reply-To = %v", ids)
	}
	if ids, _ := h.MsgIDList("References"); strings.Join(ids, " ") != strings.Join(o.References, " ") {
		t.Errorf("References = %v", ids)
	}
	if d, _ := h.Date(); !d.Equal(date) {
		t.Errorf("Date = %v", d)
	}
	if got := h.Get("Auto-Submitted"); got != "auto-generated" {
		t.Errorf("Auto-Submitted = %q", got)
	}
	if ct, _, _ := h.ContentType(); ct != "multipart/alternative" {
		t.Errorf("Content-Type = %q", ct)
	}
	if h.Get("Mime-Version") != "1.0" {
		t.Errorf("MIME-Version missing")
	}
	if len(p.Parts) != 2 {
		t.Fatalf("parts: %v", p.Parts)
	}
	if got, want := strings.ReplaceAll(p.Parts["text/plain"], "\r\n", "\n"), o.Text+"\n"; got != want {
		t.Errorf("text part:\n%q\nwant\n%q", got, want)
	}
	if got := p.Parts["text/html"]; !strings.Contains(got, o.HTML) {
		t.Errorf("html part: %q", got)
	}
}

func TestBuildTextOnly(t *testing.T) {
	raw, err := Build(Outgoing{From: "support@example.com", To: "jane@example.org", Subject: "Hi",
		Text: "line one\r\nline two", Date: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	checkWireFormat(t, raw)
	r, err := gomail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if ct, _, _ := r.Header.ContentType(); ct != "text/plain" {
		t.Errorf("Content-Type = %q", ct)
	}
	if r.Header.Get("Auto-Submitted") != "" {
		t.Error("Auto-Submitted set on a mail a human wrote")
	}
	id, _ := r.Header.MessageID()
	if !strings.HasSuffix(id, "@example.com") {
		t.Errorf("generated Message-Id %q not in the sender's domain", id)
	}
	part, err := r.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(part.Body)
	if got := strings.ReplaceAll(string(b), "\r\n", "\n"); got != "line one\nline two\n" {
		t.Errorf("body = %q", got)
	}
}

func TestBuildRejectsInjection(t *testing.T) {
	base := Outgoing{From: "support@example.com", To: "jane@example.org", Subject: "s", Text: "t"}
	bad := []func(o *Outgoing){
		func(o *Outgoing) { o.To = "jane@example.org\r\nBcc: victim@example.net" },
		func(o *Outgoing) { o.To = "not an address" },
		func(o *Outgoing) { o.From = "" },
		func(o *Outgoing) { o.ReplyTo = "x\n@y" },
		func(o *Outgoing) { o.MessageID = "a b@c" },
		func(o *Outgoing) { o.InReplyTo = "<x@y>" },
		func(o *Outgoing) { o.References = []string{"ok@x", "bad\r\n@y"} },
	}
	for i, f := range bad {
		o := base
		f(&o)
		if _, err := Build(o); apperr.KindOf(err) != apperr.KindInvalid {
			t.Errorf("case %d: Build = %v, want an invalid error", i, err)
		}
	}
	// A subject or name with line breaks cannot add a header.
	o := base
	o.Subject = "hello\r\nBcc: victim@example.net"
	o.FromName = "Eve\r\nX-Evil: 1"
	raw, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	p := parseMail(t, raw)
	if p.Header.Get("Bcc") != "" || p.Header.Get("X-Evil") != "" {
		t.Fatalf("header injected:\n%s", raw)
	}
}

func testSite() model.Site {
	return model.Site{ID: 1, Name: "Acme <Support>", Email: model.EmailSettings{AccentColor: "#C0FFEE"},
		Hours: json.RawMessage(`{"time_zone":"Europe/Paris","weekly":[[],[],[],[],[],[],[]]}`)}
}

func TestTranscript(t *testing.T) {
	at := time.Date(2025, 3, 4, 9, 5, 0, 0, time.UTC) // 10:05 in Paris
	msgs := []model.Message{
		{Seq: 1, AuthorKind: model.PartySystem, Kind: model.KindEvent, Event: model.EventChatRequested, Visibility: model.Public, CreatedAt: at},
		{Seq: 2, AuthorKind: model.PartyVisitor, Kind: model.KindText, Visibility: model.Public, Body: "Hi, my order <script>alert(1)</script> & co\nsecond line", CreatedAt: at.Add(time.Minute)},
		{Seq: 3, AuthorKind: model.PartyAgent, AuthorName: "Alice", Kind: model.KindNote, Visibility: model.Internal, Body: "SECRET NOTE: customer is rude", CreatedAt: at.Add(2 * time.Minute)},
		{Seq: 4, AuthorKind: model.PartySystem, Kind: model.KindEvent, Event: model.EventJoined, Visibility: model.Public, Body: "Alice joined the chat", CreatedAt: at.Add(2 * time.Minute)},
		{Seq: 5, AuthorKind: model.PartyAgent, AuthorName: "Alice", Kind: model.KindText, Visibility: model.Public, Body: "Hello! Let me check.", CreatedAt: at.Add(3 * time.Minute)},
		// Defensive: a text marked internal, and a note marked public, are staff-only too.
		{Seq: 6, AuthorKind: model.PartyAgent, AuthorName: "Bob", Kind: model.KindText, Visibility: model.Internal, Body: "SECRET COMMENT @alice", CreatedAt: at.Add(4 * time.Minute)},
		{Seq: 7, AuthorKind: model.PartyAgent, AuthorName: "Bob", Kind: model.KindNote, Visibility: model.Public, Body: "SECRET mislabelled note", CreatedAt: at.Add(4 * time.Minute)},
		{Seq: 8, AuthorKind: model.PartyBot, Kind: model.KindText, Visibility: model.Public, Body: "I am the bot.", CreatedAt: at.Add(5 * time.Minute)},
		{Seq: 9, AuthorKind: model.PartyVisitor, Kind: model.KindText, Visibility: model.Public, AttachmentID: 3,
			Attachment: &model.Attachment{ID: 3, Name: "invoice<1>.pdf"}, CreatedAt: at.Add(6 * time.Minute)},
	}
	subject, text, html := Transcript(testSite(), model.Contact{Name: "Jane <Doe>", Email: "jane@example.org"}, msgs)
	for name, s := range map[string]string{"subject": subject, "text": text, "html": html} {
		if strings.Contains(s, "SECRET") {
			t.Errorf("%s contains an internal entry:\n%s", name, s)
		}
	}
	if !strings.Contains(subject, "Acme <Support>") || !strings.Contains(subject, "4 Mar 2025") {
		t.Errorf("subject = %q", subject)
	}
	for _, want := range []string{
		"Hello Jane <Doe>,", "[10:06] You:\n  Hi, my order", "\n  second line", "Hi, my order <script>alert(1)</script> & co",
		"[10:07] * Alice joined the chat", "[10:08] Alice:", "[10:10] Assistant:", "[Attachment: invoice<1>.pdf]",
		"chat requested", "Europe/Paris", "Tuesday 4 March 2025", "reply to this email",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	for _, bad := range []string{"<script>", "alert(1)</script>", "Jane <Doe>", "Acme <Support>", "invoice<1>"} {
		if strings.Contains(html, bad) {
			t.Errorf("html contains unescaped %q", bad)
		}
	}
	for _, want := range []string{
		"&lt;script&gt;alert(1)&lt;/script&gt; &amp; co", "Jane &lt;Doe&gt;", "Acme &lt;Support&gt;", "#c0ffee",
		"Alice joined the chat", "Hello! Let me check.", "reply to this email", "10:06",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("html lacks %q", want)
		}
	}
	// The whole thing goes through Build and parses back.
	raw, err := Build(Outgoing{From: "support@example.com", To: "jane@example.org", Subject: subject, Text: text, HTML: html, AutoSubmitted: true})
	if err != nil {
		t.Fatal(err)
	}
	p := parseMail(t, raw)
	if !strings.Contains(p.Parts["text/html"], "&lt;script&gt;") || !strings.Contains(p.Parts["text/plain"], "Hello! Let me check.") {
		t.Errorf("parts lost content")
	}
}

func TestTranscriptAccentAndDefaults(t *testing.T) {
	for accent, want := range map[string]string{
		"#123abc":                      "#123abc",
		"":                             defaultAccent,
		"red":                          defaultAccent,
		"#12345":                       defaultAccent,
		"#123456;background:url(x)":    defaultAccent,
		"#1234567":                     defaultAccent,
		"expression(alert(1))":         defaultAccent,
		"\"><script>alert(1)</script>": defaultAccent,
	} {
		site := model.Site{Name: "S", Email: model.EmailSettings{AccentColor: accent}}
		_, _, html := Transcript(site, model.Contact{}, nil)
		if !strings.Contains(html, "solid "+want) {
			t.Errorf("accent %q: html does not use %s", accent, want)
		}
		if strings.Contains(html, "url(x)") || strings.Contains(html, "<script>") {
			t.Errorf("accent %q leaked into the html", accent)
		}
	}
	subject, text, _ := Transcript(model.Site{Name: "S"}, model.Contact{}, nil)
	if !strings.Contains(text, "Hello,") || !strings.Contains(subject, "S") || strings.Contains(text, "Times are in") {
		t.Errorf("empty transcript: %q / %q", subject, text)
	}
	// A site without hours shows UTC times.
	msgs := []model.Message{{AuthorKind: model.PartyVisitor, Kind: model.KindText, Visibility: model.Public, Body: "x",
		CreatedAt: time.Date(2025, 1, 1, 23, 59, 0, 0, time.UTC)}}
	_, text, _ = Transcript(model.Site{Name: "S"}, model.Contact{}, msgs)
	if !strings.Contains(text, "[23:59] You:") || !strings.Contains(text, "Times are in UTC") {
		t.Errorf("UTC transcript:\n%s", text)
	}
}

func TestReplyAndConfirmation(t *testing.T) {
	site := testSite()
	text, html := Reply(site, "Alice <Admin>", "Dear Jane,\n<b>not bold</b>\nRegards")
	if !strings.Contains(text, "Dear Jane,\n<b>not bold</b>\nRegards") || !strings.Contains(text, "Alice <Admin>") ||
		!strings.Contains(text, "Acme <Support>") {
		t.Errorf("reply text:\n%s", text)
	}
	if strings.Contains(html, "<b>not bold</b>") || !strings.Contains(html, "&lt;b&gt;not bold&lt;/b&gt;") ||
		!strings.Contains(html, "Alice &lt;Admin&gt;") {
		t.Errorf("reply html not escaped:\n%s", html)
	}

	subject, text, html := Confirmation(site, "I need help\n<img src=x onerror=alert(1)>")
	if !strings.Contains(subject, "Acme <Support>") || !strings.Contains(subject, "received") {
		t.Errorf("confirmation subject %q", subject)
	}
	if !strings.Contains(text, "> I need help\n> <img src=x onerror=alert(1)>") {
		t.Errorf("confirmation text does not quote the message:\n%s", text)
	}
	if strings.Contains(html, "<img") || !strings.Contains(html, "&lt;img src=x onerror=alert(1)&gt;") {
		t.Errorf("confirmation html not escaped:\n%s", html)
	}
}
