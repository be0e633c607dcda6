package email

// Composing outgoing mail: Build writes a complete RFC 5322 message with
// go-message; Transcript, Reply and Confirmation render the texts. The
// renderers treat everything user-written (message bodies, names, the
// site's name) as text: the plain part carries it as is, the HTML part
// through html/template, which escapes it.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/mail"
	"regexp"
	"strings"
	"time"

	gomail "github.com/emersion/go-message/mail"

	"switchboard/internal/apperr"
	"switchboard/internal/model"
)

// Outgoing is a mail to compose. From, To and ReplyTo are bare addresses;
// MessageID, InReplyTo and References are Message-IDs without angle
// brackets.
type Outgoing struct {
	FromName, From, To, ReplyTo, Subject, MessageID string
	InReplyTo                                       string
	References                                      []string
	Text, HTML                                      string // HTML empty: text only
	// AutoSubmitted marks mail that no human wrote this very moment
	// (transcripts, confirmations): "Auto-Submitted: auto-generated", so
	// well-behaved auto-responders do not answer it (RFC 3834).
	AutoSubmitted bool
	Date          time.Time // zero: now
}

// Build returns o as a complete RFC 5322 message with CRLF line endings:
// UTF-8 text/plain (and, when HTML is set, a multipart/alternative with a
// text/html part), quoted-printable, non-ASCII names and subjects encoded
// as RFC 2047 words. A missing MessageID is generated in From's domain.
// Invalid addresses or Message-IDs are apperr invalid errors.
func Build(o Outgoing) ([]byte, error) {
	from, err := parseAddr("from", o.From)
	if err != nil {
		return nil, err
	}
	if name := oneLine(o.FromName); name != "" {
		from.Name = name
	}
	to, err := parseAddr("to", o.To)
	if err != nil {
		return nil, err
	}
	var h gomail.Header
	date := o.Date
	if date.IsZero() {
		date = time.Now()
	}
	h.SetDate(date.Truncate(time.Second))
	h.SetAddressList("From", []*mail.Address{from})
	h.SetAddressList("To", []*mail.Address{to})
	if o.ReplyTo != "" {
		rt, err := parseAddr("reply_to", o.ReplyTo)
		if err != nil {
			return nil, err
		}
		h.SetAddressList("Reply-To", []*mail.Address{rt})
	}
	h.SetSubject(oneLine(o.Subject))
	id := o.MessageID
	if id == "" {
		id = NewMessageID(Domain(from.Address))
	}
	if !validMsgID(id) {
		return nil, apperr.Invalid("invalid_message_id", fmt.Sprintf("invalid Message-ID %q", id))
	}
	h.SetMessageID(id)
	if o.InReplyTo != "" {
		if !validMsgID(o.InReplyTo) {
			return nil, apperr.Invalid("invalid_message_id", fmt.Sprintf("invalid In-Reply-To %q", o.InReplyTo))
		}
		h.SetMsgIDList("In-Reply-To", []string{o.InReplyTo})
	}
	var refs []string
	for _, r := range o.References {
		if r == "" {
			continue
		}
		if !validMsgID(r) {
			return nil, apperr.Invalid("invalid_message_id", fmt.Sprintf("invalid reference %q", r))
		}
		refs = append(refs, r)
	}
	h.SetMsgIDList("References", refs)
	if o.AutoSubmitted {
		h.Set("Auto-Submitted", "auto-generated")
		// Exchange/Outlook: no out-of-office or auto-reply to this mail.
		h.Set("X-Auto-Response-Suppress", "OOF, AutoReply")
	}

	var buf bytes.Buffer
	text := normalizeNewlines(o.Text)
	if o.HTML == "" {
		h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
		w, err := gomail.CreateSingleInlineWriter(&buf, h)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write([]byte(text)); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	iw, err := gomail.CreateInlineWriter(&buf, h)
	if err != nil {
		return nil, err
	}
	for _, p := range []struct{ typ, body string }{
		{"text/plain", text},
		{"text/html", normalizeNewlines(o.HTML)},
	} {
		var ph gomail.InlineHeader
		ph.SetContentType(p.typ, map[string]string{"charset": "utf-8"})
		ph.Set("Content-Transfer-Encoding", "quoted-printable")
		w, err := iw.CreatePart(ph)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write([]byte(p.body)); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	}
	if err := iw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// parseAddr parses a bare address (a display name is tolerated and kept).
func parseAddr(field, s string) (*mail.Address, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, apperr.Invalid("invalid_email_address", field+" contains a line break")
	}
	a, err := mail.ParseAddress(strings.TrimSpace(s))
	if err != nil || !strings.Contains(a.Address, "@") {
		return nil, apperr.Invalid("invalid_email_address", fmt.Sprintf("%s: %q is not an email address", field, s))
	}
	return a, nil
}

// validMsgID accepts an id-left@id-right without brackets, spaces or
// control characters.
func validMsgID(id string) bool {
	if len(id) > 900 || strings.Count(id, "@") != 1 || id[0] == '@' || id[len(id)-1] == '@' {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7f || c == '<' || c == '>' || c == '"' || c == '\\' || c == '(' || c == ')' || c == ',' {
			return false
		}
	}
	return true
}

func oneLine(s string) string {
	return strings.TrimSpace(strings.Join(strings.Fields(strings.ReplaceAll(s, "\x00", "")), " "))
}

func normalizeNewlines(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.ReplaceAll(s, "\x00", "")
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return s
}

// ---- Rendering ----

// defaultAccent is used when a site has no valid accent colour.
const defaultAccent = "#2563eb"

var accentRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// accent returns the site's accent colour if it is a valid #rrggbb.
func accent(site model.Site) template.CSS {
	c := strings.TrimSpace(site.Email.AccentColor)
	if !accentRE.MatchString(c) {
		c = defaultAccent
	}
	return template.CSS(strings.ToLower(c)) // validated above: safe in a style attribute
}

// siteName is how mails name the team.
func siteName(site model.Site) string {
	if n := oneLine(site.Name); n != "" {
		return n
	}
	if n := oneLine(site.Email.FromName); n != "" {
		return n
	}
	return "our team"
}

// siteLocation is the site's time zone (from its business hours), UTC if
// it has none.
func siteLocation(site model.Site) *time.Location {
	var h struct {
		TimeZone string `json:"time_zone"`
	}
	if len(site.Hours) == 0 || json.Unmarshal(site.Hours, &h) != nil || h.TimeZone == "" || strings.EqualFold(h.TimeZone, "local") {
		return time.UTC
	}
	loc, err := time.LoadLocation(h.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

const replyHint = "You can reply to this email to continue the conversation."

// transcriptLine is one timeline entry as shown in a transcript.
type transcriptLine struct {
	Day    string // set on the first line of each day
	Time   string
	Who    string
	Role   string // visitor, agent, bot, system
	Body   string
	Attach string
}

type transcriptData struct {
	Subject  string
	Site     string
	Accent   template.CSS
	Greeting string
	Intro    string
	Zone     string
	Lines    []transcriptLine
	Hint     string
}

// Transcript renders the public timeline of a conversation for its
// customer: visitor, agent, bot and system lines with their times in the
// site's time zone. Internal entries (notes, supervisor comments) are
// never included, whatever msgs contains.
func Transcript(site model.Site, contact model.Contact, msgs []model.Message) (subject, text, html string) {
	name := siteName(site)
	loc := siteLocation(site)
	d := transcriptData{Site: name, Accent: accent(site), Hint: replyHint, Zone: loc.String()}
	if loc == time.UTC {
		d.Zone = "UTC"
	}
	var lastDay string
	var first time.Time
	for _, m := range msgs {
		if m.Visibility != model.Public || m.Kind == model.KindNote {
			continue
		}
		t := m.CreatedAt.In(loc)
		if first.IsZero() {
			first = t
		}
		l := transcriptLine{Time: t.Format("15:04"), Body: strings.TrimSpace(normalizeNewlines(m.Body))}
		if day := t.Format("Monday 2 January 2006"); day != lastDay {
			l.Day, lastDay = day, day
		}
		switch {
		case m.Kind == model.KindEvent || m.AuthorKind == model.PartySystem:
			l.Role = "system"
			if l.Body == "" {
				l.Body = strings.ReplaceAll(m.Event, "_", " ")
			}
		case m.AuthorKind == model.PartyVisitor:
			l.Role, l.Who = "visitor", "You"
		case m.AuthorKind == model.PartyBot:
			l.Role, l.Who = "bot", orDefault(oneLine(m.AuthorName), "Assistant")
		default:
			l.Role, l.Who = "agent", orDefault(oneLine(m.AuthorName), name)
		}
		if m.Attachment != nil {
			l.Attach = "Attachment: " + oneLine(m.Attachment.Name)
		} else if m.AttachmentID != 0 {
			l.Attach = "Attachment"
		}
		if l.Body == "" && l.Attach == "" {
			continue
		}
		d.Lines = append(d.Lines, l)
	}
	subject = "Transcript of your conversation with " + name
	if !first.IsZero() {
		subject += " (" + first.Format("2 Jan 2006") + ")"
	}
	d.Subject = subject
	d.Greeting = "Hello,"
	if n := oneLine(contact.Name); n != "" {
		d.Greeting = "Hello " + n + ","
	}
	d.Intro = "Here is the transcript of your conversation with " + name + "."
	if len(d.Lines) == 0 {
		d.Intro = "Your conversation with " + name + " has no messages yet."
	}
	return subject, transcriptText(d), execHTML(transcriptHTML, d)
}

type replyData struct {
	Subject string
	Site    string
	Accent  template.CSS
	Agent   string
	Body    string
	Hint    string
}

// Reply renders an agent's email reply: the body as the agent wrote it,
// signed with their name and the site's.
func Reply(site model.Site, agentName, body string) (text, html string) {
	d := replyData{Site: siteName(site), Accent: accent(site), Agent: oneLine(agentName),
		Body: strings.TrimSpace(normalizeNewlines(body)), Hint: replyHint}
	d.Subject = "Message from " + d.Site
	return replyText(d), execHTML(replyHTML, d)
}

type confirmationData struct {
	Subject string
	Site    string
	Accent  template.CSS
	Body    string
	Quoted  string
}

// Confirmation renders the mail confirming that an offline message (left
// while nobody was available) was received, quoting it.
func Confirmation(site model.Site, body string) (subject, text, html string) {
	d := confirmationData{Site: siteName(site), Accent: accent(site), Body: strings.TrimSpace(normalizeNewlines(body))}
	d.Subject = "We received your message: " + d.Site
	var q strings.Builder
	for _, line := range strings.Split(d.Body, "\n") {
		q.WriteString(strings.TrimRight("> "+line, " "))
		q.WriteByte('\n')
	}
	d.Quoted = strings.TrimSuffix(q.String(), "\n")
	return d.Subject, confirmationText(d), execHTML(confirmationHTML, d)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// execHTML runs one of the fixed HTML templates.
func execHTML(t *template.Template, d any) string {
	var b strings.Builder
	if err := t.Execute(&b, d); err != nil {
		panic("email: template " + t.Name() + ": " + err.Error()) // fixed templates: a failure is a bug
	}
	return b.String()
}

// ---- plain text ----

func transcriptText(d transcriptData) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n%s\n", d.Greeting, d.Intro)
	if len(d.Lines) > 0 {
		fmt.Fprintf(&b, "Times are in %s.\n", d.Zone)
	}
	for _, l := range d.Lines {
		if l.Day != "" {
			fmt.Fprintf(&b, "\n-- %s --\n", l.Day)
		}
		b.WriteByte('\n')
		if l.Role == "system" {
			fmt.Fprintf(&b, "[%s] * %s\n", l.Time, indent(l.Body, "  "))
			continue
		}
		fmt.Fprintf(&b, "[%s] %s:\n", l.Time, l.Who)
		if l.Body != "" {
			b.WriteString("  " + indent(l.Body, "  ") + "\n")
		}
		if l.Attach != "" {
			fmt.Fprintf(&b, "  [%s]\n", l.Attach)
		}
	}
	fmt.Fprintf(&b, "\n%s\n\n-- \n%s\n", d.Hint, d.Site)
	return b.String()
}

func replyText(d replyData) string {
	var b strings.Builder
	b.WriteString(d.Body + "\n\n-- \n")
	if d.Agent != "" {
		b.WriteString(d.Agent + "\n")
	}
	fmt.Fprintf(&b, "%s\n\n%s\n", d.Site, d.Hint)
	return b.String()
}

func confirmationText(d confirmationData) string {
	return fmt.Sprintf("Hello,\n\nThank you for contacting %s. We received your message and will answer by email as soon as we can.\n\nYour message:\n\n%s\n\nYou can reply to this email to add anything.\n\n-- \n%s\n",
		d.Site, d.Quoted, d.Site)
}

// indent prefixes every line but the first with p.
func indent(s, p string) string {
	lines := strings.Split(s, "\n")
	for i := range lines {
		if lines[i] != "" {
			lines[i] = p + lines[i]
		}
	}
	return strings.TrimPrefix(strings.Join(lines, "\n"), p)
}

// ---- HTML ----

// layout is the frame of every HTML mail: inline styles only (mail
// clients drop style sheets), a 600 px card with the accent colour.
const layoutHTML = `{{define "top"}}<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{{.Subject}}</title></head>
<body style="margin:0;padding:0;background:#f4f5f7;font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Helvetica,Arial,sans-serif;color:#1f2328;font-size:15px;line-height:1.5;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f4f5f7;"><tr><td align="center" style="padding:24px 12px;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="max-width:600px;background:#ffffff;border-radius:8px;border-top:4px solid {{.Accent}};">
<tr><td style="padding:24px 28px;">
<div style="font-size:18px;font-weight:600;color:{{.Accent}};margin:0 0 16px;">{{.Site}}</div>
{{end}}{{define "bottom"}}</td></tr></table>
</td></tr></table>
</body></html>
{{end}}`

var transcriptHTML = template.Must(template.New("transcript").Parse(layoutHTML + `{{template "top" .}}
<p style="margin:0 0 8px;">{{.Greeting}}</p>
<p style="margin:0 0 16px;">{{.Intro}}{{if .Lines}} <span style="color:#6b7280;">Times are in {{.Zone}}.</span>{{end}}</p>
{{range .Lines}}{{if .Day}}<div style="margin:20px 0 8px;font-size:12px;font-weight:600;color:#6b7280;text-transform:uppercase;letter-spacing:.04em;">{{.Day}}</div>
{{end}}{{if eq .Role "system"}}<div style="margin:6px 0;font-size:13px;color:#6b7280;font-style:italic;white-space:pre-wrap;">{{.Time}} · {{.Body}}</div>
{{else}}<div style="margin:10px 0;padding:10px 12px;border-radius:6px;{{if eq .Role "visitor"}}background:#f3f4f6;{{else}}background:#ffffff;border-left:3px solid {{$.Accent}};{{end}}">
<div style="font-size:12px;color:#6b7280;margin-bottom:2px;"><strong style="color:#1f2328;">{{.Who}}</strong> · {{.Time}}</div>
{{if .Body}}<div style="white-space:pre-wrap;word-wrap:break-word;">{{.Body}}</div>{{end}}{{if .Attach}}<div style="font-size:13px;color:#6b7280;">📎 {{.Attach}}</div>{{end}}
</div>
{{end}}{{end}}<p style="margin:24px 0 0;padding-top:16px;border-top:1px solid #e5e7eb;color:#4b5563;">{{.Hint}}</p>
{{template "bottom" .}}`))

var replyHTML = template.Must(template.New("reply").Parse(layoutHTML + `{{template "top" .}}
<div style="white-space:pre-wrap;word-wrap:break-word;margin:0 0 16px;">{{.Body}}</div>
<p style="margin:0;color:#4b5563;">{{if .Agent}}{{.Agent}}<br>{{end}}{{.Site}}</p>
<p style="margin:24px 0 0;padding-top:16px;border-top:1px solid #e5e7eb;color:#6b7280;font-size:13px;">{{.Hint}}</p>
{{template "bottom" .}}`))

var confirmationHTML = template.Must(template.New("confirmation").Parse(layoutHTML + `{{template "top" .}}
<p style="margin:0 0 8px;">Hello,</p>
<p style="margin:0 0 16px;">Thank you for contacting {{.Site}}. We received your message and will answer by email as soon as we can.</p>
<div style="margin:0 0 16px;padding:10px 12px;border-left:3px solid {{.Accent}};background:#f9fafb;white-space:pre-wrap;word-wrap:break-word;">{{.Body}}</div>
<p style="margin:24px 0 0;padding-top:16px;border-top:1px solid #e5e7eb;color:#6b7280;font-size:13px;">You can reply to this email to add anything.</p>
{{template "bottom" .}}`))
