package email

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"io"
	"mime"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/charset" // registers non-UTF-8 charsets with go-message
	gomail "github.com/emersion/go-message/mail"

	"switchboard/internal/apperr"
)

// Limits that keep a hostile mail from costing more than its size.
const (
	maxMIMEDepth    = 16  // nested multiparts
	maxMIMEParts    = 500 // leaves in the whole tree
	maxReferences   = 100 // message ids kept from In-Reply-To and References
	maxMsgIDLen     = 998 // one header line, RFC 5322
	maxHeaderBytes  = 1 << 20
	maxQuoteDepth   = 8 // ">" rendered per line at most
	generatedDomain = "switchboard.invalid"
)

// errMalformed builds the one error Parse returns for mail it cannot read.
func errMalformed(msg string, cause error) error {
	e := apperr.Invalid("malformed_mail", msg)
	e.Err = cause
	return e
}

// Parse reads a raw RFC 5322 message into an Inbound. ConversationID and Raw
// are left for the caller (the listener knows the envelope). The mail's
// text is decoded to UTF-8 from any charset go-message knows; an HTML-only
// mail is converted to plain text. Text is FullText with quoted history
// and signature trimmed (see trimReply).
//
// A mail that cannot be read as MIME (a broken header, a multipart without
// its boundary, a corrupt transfer encoding, nesting too deep) returns an
// apperr with code "malformed_mail". Parse never panics.
func Parse(raw []byte) (in Inbound, err error) {
	defer func() {
		// The MIME libraries are not ours; a panic on hostile input must
		// become a refusal, not a crashed listener.
		if r := recover(); r != nil {
			in = Inbound{}
			err = errMalformed("unreadable mail", fmt.Errorf("panic: %v", r))
		}
	}()

	ent, err := message.ReadWithOptions(bytes.NewReader(raw), &message.ReadOptions{MaxHeaderBytes: maxHeaderBytes})
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		if !errors.Is(err, io.EOF) || !bytes.Contains(raw, []byte(":")) {
			return Inbound{}, errMalformed("malformed header", err)
		}
		// A header with no body and no blank line after it is still a
		// header: read it again with the missing separator.
		fixed := append(append([]byte(nil), raw...), "\r\n\r\n"...)
		ent, err = message.ReadWithOptions(bytes.NewReader(fixed), &message.ReadOptions{MaxHeaderBytes: maxHeaderBytes})
		if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
			return Inbound{}, errMalformed("malformed header", err)
		}
	}
	h := gomail.Header{Header: ent.Header}

	in.From, in.FromName = parseFrom(h)
	if in.From == "" {
		return Inbound{}, errMalformed("missing or unreadable From", nil)
	}
	in.Subject = parseSubject(h)
	in.MessageID = parseMessageID(h.Get("Message-Id"))
	if in.MessageID == "" {
		sum := sha256.Sum256(raw)
		in.MessageID = hex.EncodeToString(sum[:]) + "@" + generatedDomain
	}
	in.References = parseReferences(h.Get("In-Reply-To"), h.Get("References"))
	in.Automatic = automaticHeaders(h)

	w := walker{}
	res, err := w.entity(ent, 0)
	if err != nil {
		return Inbound{}, err
	}
	if w.report {
		in.Automatic = true
		// The returned message's id counts as the newest reference.
		if len(w.returned) > 0 {
			in.References = parseReferences(h.Get("In-Reply-To"), h.Get("References")+" <"+strings.Join(w.returned, "> <")+">")
		}
	}
	in.Attachments = w.attachments
	switch {
	case len(res.plain) > 0:
		in.FullText = strings.TrimSpace(strings.Join(res.plain, "\n\n"))
	case len(res.html) > 0:
		in.FullText = strings.TrimSpace(htmlToText(strings.Join(res.html, "\n")))
	}
	in.Text = trimReply(in.FullText)
	return in, nil
}

// parseFrom returns the sender's lower-cased address and display name.
func parseFrom(h gomail.Header) (addr, name string) {
	v := h.Get("From")
	if v == "" {
		v = h.Get("Sender")
	}
	if v == "" {
		return "", ""
	}
	if list, err := h.AddressList("From"); err == nil && len(list) > 0 && looksLikeAddr(list[0].Address) {
		return strings.ToLower(list[0].Address), cleanHeaderText(list[0].Name)
	}
	if a, err := gomail.ParseAddress(v); err == nil && looksLikeAddr(a.Address) {
		return strings.ToLower(a.Address), cleanHeaderText(a.Name)
	}
	// Broken but common: unquoted specials or 8-bit names. Take the last
	// <…@…> (or a bare token with an @) and whatever precedes it as name.
	if i := strings.LastIndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			a := strings.TrimSpace(v[i+1 : i+j])
			if looksLikeAddr(a) {
				name := strings.Trim(strings.TrimSpace(v[:i]), `"' `)
				if dec, err := new(mime.WordDecoder).DecodeHeader(name); err == nil {
					name = dec
				}
				return strings.ToLower(a), cleanHeaderText(name)
			}
		}
	}
	for f := range strings.FieldsSeq(v) {
		f = strings.Trim(f, `<>"',;()`)
		if looksLikeAddr(f) {
			return strings.ToLower(f), ""
		}
	}
	return "", ""
}

// looksLikeAddr is a loose check: one @, something on both sides, no spaces or
// controls. The chat service decides what an address is worth.
func looksLikeAddr(a string) bool {
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 || len(a) > 320 || !utf8.ValidString(a) {
		return false
	}
	for _, r := range a {
		if r <= ' ' || r == 0x7f || r == '<' || r == '>' || r == ',' {
			return false
		}
	}
	return true
}

func parseSubject(h gomail.Header) string {
	s, err := h.Subject()
	if err != nil {
		s = h.Get("Subject")
	}
	return cleanHeaderText(s)
}

// cleanHeaderText makes a header value one clean line of valid UTF-8.
func cleanHeaderText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == '\t' {
			return ' '
		}
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// parseMessageID returns the id without <>, or "" when there is none.
func parseMessageID(v string) string {
	ids := msgIDs(v)
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}

// parseReferences lists In-Reply-To first, then References newest first
// (the header lists them oldest first), without duplicates.
func parseReferences(inReplyTo, references string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(id string) {
		if !seen[id] && len(out) < maxReferences {
			seen[id] = true
			out = append(out, id)
		}
	}
	for _, id := range msgIDs(inReplyTo) {
		add(id)
	}
	refs := msgIDs(references)
	for i := len(refs) - 1; i >= 0; i-- {
		add(refs[i])
	}
	return out
}

// msgIDs extracts message ids from a header value: every <…>, or, for
// mailers that forget the brackets, every whitespace-separated token.
// Comments and phrases outside brackets (seen in In-Reply-To) are ignored.
func msgIDs(v string) []string {
	var ids []string
	clean := func(s string) string {
		s = strings.Map(func(r rune) rune {
			if r <= ' ' || r == 0x7f || r == '<' || r == '>' || r == utf8.RuneError {
				return -1
			}
			return r
		}, s)
		if len(s) > maxMsgIDLen {
			return ""
		}
		return s
	}
	if strings.Contains(v, "<") {
		rest := v
		for {
			i := strings.IndexByte(rest, '<')
			if i < 0 {
				break
			}
			j := strings.IndexByte(rest[i:], '>')
			if j < 0 {
				if id := clean(rest[i+1:]); id != "" {
					ids = append(ids, id)
				}
				break
			}
			if id := clean(rest[i+1 : i+j]); id != "" {
				ids = append(ids, id)
			}
			rest = rest[i+j+1:]
		}
		return ids
	}
	for f := range strings.FieldsSeq(strings.ReplaceAll(v, ",", " ")) {
		if id := clean(f); id != "" && strings.Contains(id, "@") {
			ids = append(ids, id)
		}
	}
	return ids
}

// automaticHeaders reports the header signs of a robot: auto-replies
// (RFC 3834 and the common X- headers), list and bulk mail, delivery
// reports, and an empty return path.
func automaticHeaders(h gomail.Header) bool {
	if v := headerToken(h.Get("Auto-Submitted")); v != "" && v != "no" {
		return true
	}
	if h.Has("X-Autoreply") || h.Has("X-Autorespond") || h.Has("X-Autoresponder") {
		return true
	}
	switch headerToken(h.Get("Precedence")) {
	case "bulk", "junk", "list", "auto_reply":
		return true
	}
	if h.Has("List-Id") {
		return true
	}
	mt, _ := lenientMediaType(h.Get("Content-Type"))
	if mt == "multipart/report" || isDeliveryStatus(mt) {
		return true
	}
	if h.Has("Return-Path") {
		rp := strings.TrimSpace(h.Get("Return-Path"))
		if rp == "" || rp == "<>" || strings.ReplaceAll(rp, " ", "") == "<>" {
			return true
		}
	}
	return false
}

func isDeliveryStatus(mt string) bool {
	return mt == "message/delivery-status" || mt == "message/global-delivery-status"
}

// headerToken is the lower-cased first token of a structured header value:
// "auto-replied; owner-email=…" → "auto-replied".
func headerToken(v string) string {
	if i := strings.IndexAny(v, ";("); i >= 0 {
		v = v[:i]
	}
	return strings.ToLower(strings.TrimSpace(v))
}

// lenientMediaType parses a Content-Type leniently: a value with broken
// parameters still yields its type.
func lenientMediaType(v string) (string, map[string]string) {
	mt, params, err := mime.ParseMediaType(v)
	if err != nil {
		mt, _, _ = strings.Cut(v, ";")
		params = nil
	}
	return strings.ToLower(strings.TrimSpace(mt)), params
}

// walker collects the text and attachments of a MIME tree.
type walker struct {
	parts       int
	report      bool     // a delivery report (or a part of one) was seen
	returned    []string // Message-IDs of the messages a report returns
	attachments []Part
}

// texts is what a subtree offers as body: plain parts and HTML parts, in
// order. A multipart/alternative offers only its best alternative.
type texts struct {
	plain []string
	html  []string
}

func (w *walker) entity(e *message.Entity, depth int) (texts, error) {
	if depth > maxMIMEDepth {
		return texts{}, errMalformed("MIME nesting too deep", nil)
	}
	w.parts++
	if w.parts > maxMIMEParts {
		return texts{}, errMalformed("too many MIME parts", nil)
	}
	ctype := e.Header.Get("Content-Type")
	mt, params := lenientMediaType(ctype)
	if mt == "" {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		return w.multipart(e, mt, params, depth)
	}

	if isDeliveryStatus(mt) {
		w.report = true
		_, _ = io.Copy(io.Discard, e.Body)
		return texts{}, nil
	}
	if w.report && (mt == "message/rfc822" || mt == "text/rfc822-headers" || mt == "message/global" || mt == "message/global-headers") {
		// The returned message of a delivery report: its Message-ID is
		// ours, so it threads the bounce to the conversation.
		if orig, err := message.Read(e.Body); orig != nil && (err == nil || message.IsUnknownCharset(err) || message.IsUnknownEncoding(err)) {
			if id := parseMessageID(orig.Header.Get("Message-Id")); id != "" {
				w.returned = append(w.returned, id)
			}
		}
		_, _ = io.Copy(io.Discard, e.Body)
		return texts{}, nil
	}

	if name, isAttachment := attachmentName(e.Header, mt); isAttachment {
		data, err := io.ReadAll(e.Body)
		if err != nil {
			return texts{}, errMalformed("unreadable attachment", err)
		}
		w.attachments = append(w.attachments, Part{Name: name, ContentType: mt, Data: data})
		return texts{}, nil
	}

	switch {
	case mt == "text/plain" || mt == "text/html":
		data, err := io.ReadAll(e.Body)
		if err != nil {
			return texts{}, errMalformed("unreadable text part", err)
		}
		s := decodeText(data, params)
		if mt == "text/html" {
			return texts{html: []string{s}}, nil
		}
		if strings.EqualFold(params["format"], "flowed") {
			s = unflow(s, strings.EqualFold(params["delsp"], "yes"))
		}
		return texts{plain: []string{s}}, nil
	}
	// Anything else without a name (an unnamed inline image, a calendar
	// blob, a forwarded message/rfc822) is neither text nor a file.
	_, _ = io.Copy(io.Discard, e.Body)
	return texts{}, nil
}

func (w *walker) multipart(e *message.Entity, mt string, params map[string]string, depth int) (texts, error) {
	if params["boundary"] == "" {
		return texts{}, errMalformed("multipart without boundary", nil)
	}
	if mt == "multipart/report" {
		w.report = true
	}
	mr := e.MultipartReader()
	if mr == nil {
		return texts{}, errMalformed("unreadable multipart", nil)
	}
	var kids []texts
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil && (p == nil || !(message.IsUnknownCharset(err) || message.IsUnknownEncoding(err))) {
			return texts{}, errMalformed("broken multipart", err)
		}
		t, err := w.entity(p, depth+1)
		if err != nil {
			return texts{}, err
		}
		kids = append(kids, t)
	}
	if len(kids) == 0 {
		return texts{}, errMalformed("multipart without parts", nil)
	}
	var out texts
	if mt == "multipart/alternative" {
		// Alternatives are ordered from plainest to richest; prefer the
		// first that has plain text, else the first with HTML.
		for _, k := range kids {
			if len(k.plain) > 0 {
				return texts{plain: k.plain}, nil
			}
		}
		for _, k := range kids {
			if len(k.html) > 0 {
				return texts{html: k.html}, nil
			}
		}
		return out, nil
	}
	for _, k := range kids {
		out.plain = append(out.plain, k.plain...)
		out.html = append(out.html, k.html...)
	}
	return out, nil
}

// attachmentName reports whether a leaf part is a file (a filename, or
// Content-Disposition: attachment) and its cleaned name.
func attachmentName(h message.Header, mt string) (string, bool) {
	disp, dparams := lenientMediaType(h.Get("Content-Disposition"))
	_, cparams := lenientMediaType(h.Get("Content-Type"))
	name := dparams["filename"]
	if name == "" {
		name = cparams["name"]
	}
	name = cleanFilename(name)
	if name == "" && disp != "attachment" {
		return "", false
	}
	if name == "" {
		name = "attachment"
		if exts, _ := mime.ExtensionsByType(mt); len(exts) > 0 {
			name += exts[0]
		}
	}
	return name, true
}

// cleanFilename keeps the base name of a declared filename, as one line of
// valid UTF-8; the blob store is not a file system, but the name is shown.
func cleanFilename(name string) string {
	if dec, err := new(mime.WordDecoder).DecodeHeader(name); err == nil {
		name = dec
	}
	name = cleanHeaderText(strings.ReplaceAll(name, `\`, "/"))
	name = path.Base(name)
	if name == "." || name == "/" || name == ".." {
		return ""
	}
	if len(name) > 255 {
		name = name[:255]
		name = strings.ToValidUTF8(name, "")
	}
	return name
}

// decodeText returns a text body as UTF-8 with LF line ends. go-message has
// already converted a declared, known charset; bytes that are still not
// UTF-8 (no charset declared, or one go-message does not know) are read as
// Windows-1252, the usual culprit. Declared UTF-8 keeps its valid runes.
func decodeText(data []byte, params map[string]string) string {
	cs := strings.ToLower(params["charset"])
	if !utf8.Valid(data) && cs != "utf-8" && cs != "utf8" {
		if r, err := charset.Reader("windows-1252", bytes.NewReader(data)); err == nil {
			if dec, err := io.ReadAll(r); err == nil {
				data = dec
			}
		}
	}
	s := strings.ToValidUTF8(string(data), "\uFFFD")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	// NULs are not text (and PostgreSQL refuses them); a byte order mark
	// (iOS quotes one) is not either.
	return strings.NewReplacer("\x00", "", "\uFEFF", "").Replace(s)
}

// unflow joins the soft line breaks of format=flowed text (RFC 3676): a
// line ending in a space continues on the next line of the same quote
// depth. Quote markers are normalised to "> ".
func unflow(s string, delsp bool) string {
	lines := strings.Split(s, "\n")
	var out []string
	var cur strings.Builder
	curDepth, open := 0, false
	for _, l := range lines {
		depth := 0
		for depth < len(l) && l[depth] == '>' {
			depth++
		}
		content := l[depth:]
		content = strings.TrimPrefix(content, " ") // space-stuffing
		flowed := strings.HasSuffix(content, " ") && content != "-- "
		if flowed && delsp {
			content = content[:len(content)-1]
		}
		if open && depth != curDepth {
			out = append(out, quoteLine(curDepth, cur.String()))
			cur.Reset()
		}
		if !open || depth != curDepth {
			curDepth = depth
		}
		cur.WriteString(content)
		open = flowed
		if !flowed {
			out = append(out, quoteLine(curDepth, cur.String()))
			cur.Reset()
		}
	}
	if open {
		out = append(out, quoteLine(curDepth, cur.String()))
	}
	return strings.Join(out, "\n")
}

func quoteLine(depth int, s string) string {
	if depth == 0 {
		return s
	}
	return quotePrefix(depth) + " " + s
}

// quotePrefix is ">" per quote level, capped: hostile nesting must not
// multiply the text's size.
func quotePrefix(depth int) string {
	return strings.Repeat(">", min(depth, maxQuoteDepth))
}

// htmlToText renders an HTML body as readable plain text: block elements
// and <br> become line breaks, paragraphs blank lines, list items "- ",
// blockquotes "> " (so quoted history trims like plain text), links keep
// their address; scripts, styles and the head are dropped and entities
// decoded. It is a forgiving scanner, not a validating parser: mail HTML
// is rarely well formed.
func htmlToText(src string) string {
	var t htmlText
	t.lineStart = true
	for i := 0; i < len(src); {
		if src[i] != '<' {
			j := strings.IndexByte(src[i:], '<')
			if j < 0 {
				j = len(src) - i
			}
			t.text(html.UnescapeString(src[i : i+j]))
			i += j
			continue
		}
		rest := src[i:]
		switch {
		case strings.HasPrefix(rest, "<!--"):
			end := strings.Index(rest[4:], "-->")
			if end < 0 {
				return t.String()
			}
			i += 4 + end + 3
			continue
		case strings.HasPrefix(rest, "<!") || strings.HasPrefix(rest, "<?"):
			end := strings.IndexByte(rest, '>')
			if end < 0 {
				return t.String()
			}
			i += end + 1
			continue
		}
		name, attrs, closing, n := scanTag(rest)
		if n == 0 { // a lone "<" is text
			t.text("<")
			i++
			continue
		}
		i += n
		if !closing && rawTextTags[name] {
			// Skip to the matching close tag; content is not text.
			end := indexFold(src[i:], "</"+name)
			if end < 0 {
				return t.String()
			}
			i += end
			continue
		}
		t.tag(name, attrs, closing)
	}
	return t.String()
}

// rawTextTags hold content that is never shown as text.
var rawTextTags = map[string]bool{"script": true, "style": true, "head": true, "title": true, "template": true, "xml": true}

var blockTags = map[string]int{
	// 1: own line; 2: paragraph (blank line around).
	"div": 1, "tr": 1, "li": 1, "dt": 1, "dd": 1, "table": 1, "ul": 1, "ol": 1, "dl": 1,
	"section": 1, "article": 1, "header": 1, "footer": 1, "nav": 1, "aside": 1, "main": 1,
	"form": 1, "fieldset": 1, "address": 1, "center": 1, "figure": 1, "figcaption": 1, "caption": 1,
	"p": 2, "h1": 2, "h2": 2, "h3": 2, "h4": 2, "h5": 2, "h6": 2, "blockquote": 2, "pre": 2, "hr": 2,
}

// scanTag reads a tag at the start of s ("<name attr=…>" or "</name>").
// It returns n = 0 when s does not start a tag.
func scanTag(s string) (name string, attrs map[string]string, closing bool, n int) {
	i := 1
	if i < len(s) && s[i] == '/' {
		closing = true
		i++
	}
	start := i
	for i < len(s) && (isASCIIAlnum(s[i]) || s[i] == '-' || s[i] == ':') {
		i++
	}
	if i == start || (start < len(s) && !isASCIILetter(s[start])) {
		return "", nil, false, 0
	}
	name = strings.ToLower(s[start:i])
	for i < len(s) && s[i] != '>' {
		c := s[i]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '/' {
			i++
			continue
		}
		ks := i
		for i < len(s) && s[i] != '=' && s[i] != '>' && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' && s[i] != '/' {
			i++
		}
		key := strings.ToLower(s[ks:i])
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
		val := ""
		if i < len(s) && s[i] == '=' {
			i++
			for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
				i++
			}
			if i < len(s) && (s[i] == '"' || s[i] == '\'') {
				q := s[i]
				j := strings.IndexByte(s[i+1:], q)
				if j < 0 {
					return name, attrs, closing, len(s)
				}
				val = s[i+1 : i+1+j]
				i += j + 2
			} else {
				vs := i
				for i < len(s) && s[i] != '>' && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' {
					i++
				}
				val = s[vs:i]
			}
		}
		if key != "" {
			if attrs == nil {
				attrs = map[string]string{}
			}
			if _, dup := attrs[key]; !dup {
				attrs[key] = html.UnescapeString(val)
			}
		}
	}
	if i >= len(s) {
		return name, attrs, closing, len(s)
	}
	return name, attrs, closing, i + 1
}

func isASCIILetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isASCIIAlnum(c byte) bool  { return isASCIILetter(c) || (c >= '0' && c <= '9') }

// indexFold is strings.Index ignoring ASCII case.
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

// htmlText accumulates rendered text with pending breaks, so runs of
// block boundaries collapse into one line or paragraph break.
type htmlText struct {
	b         strings.Builder
	breaks    int  // pending line breaks before the next text
	space     bool // pending space before the next text
	lineStart bool
	quote     int  // blockquote depth
	lastQuote int  // quote depth of the line last written
	mso       bool // inside a Word paragraph
	msoWrote  bool // and it had text
	pre       int  // <pre> depth
	href      string
	linkText  strings.Builder
}

func (t *htmlText) String() string { return t.b.String() }

func (t *htmlText) block(n int) {
	if t.b.Len() > 0 && t.breaks < n {
		t.breaks = n
	}
}

func (t *htmlText) tag(name string, attrs map[string]string, closing bool) {
	switch name {
	case "br":
		if t.b.Len() > 0 || t.breaks > 0 {
			t.breaks++
		}
		t.space = false
		return
	case "blockquote":
		t.block(2)
		if closing {
			if t.quote > 0 {
				t.quote--
			}
		} else {
			t.quote++
		}
		return
	case "pre":
		if closing {
			if t.pre > 0 {
				t.pre--
			}
		} else {
			t.pre++
		}
	case "td", "th":
		if !closing {
			t.space = true
		}
		return
	case "li":
		t.block(1)
		if !closing {
			t.emit("- ")
			t.space = false
		}
		return
	case "a":
		if closing {
			if u := t.href; u != "" && strings.TrimSpace(t.linkText.String()) != strings.TrimPrefix(u, "mailto:") && strings.TrimSpace(t.linkText.String()) != u {
				t.emit("")
				t.b.WriteString(" <" + u + ">")
			}
			t.href = ""
			return
		}
		t.href, t.linkText = "", strings.Builder{}
		if u := strings.TrimSpace(attrs["href"]); strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
			t.href = u
		}
		return
	case "img":
		if alt := strings.TrimSpace(attrs["alt"]); alt != "" && !closing {
			t.text(" [" + alt + "] ")
		}
		return
	case "p":
		// Word (Outlook) writes every line as <p class=MsoNormal> without
		// margins, and a blank line as an empty one: render them as lines.
		if closing && t.mso {
			if !t.msoWrote {
				t.breaks++
			}
			t.block(1)
			t.mso = false
			return
		}
		if !closing && strings.Contains(strings.ToLower(attrs["class"]), "msonormal") {
			t.block(1)
			t.mso, t.msoWrote = true, false
			return
		}
		t.mso = false
	}
	if n, ok := blockTags[name]; ok {
		t.block(n)
	}
}

// text adds character data (entities already decoded).
func (t *htmlText) text(s string) {
	s = strings.ReplaceAll(s, "\u00a0", " ")
	if t.pre > 0 {
		for i, line := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
			if i > 0 {
				t.breaks++
			}
			if line != "" {
				t.emit(line)
			}
		}
		return
	}
	if s == "" {
		return
	}
	if isHTMLSpace(s[0]) {
		t.space = true
	}
	words := strings.Fields(s)
	for i, w := range words {
		if i > 0 {
			t.space = true
		}
		t.emit(w)
	}
	if len(words) > 0 && isHTMLSpace(s[len(s)-1]) {
		t.space = true
	}
}

func isHTMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

// emit writes s after any pending breaks or space.
func (t *htmlText) emit(s string) {
	if t.breaks > 0 && t.b.Len() > 0 {
		t.b.WriteByte('\n')
		if t.breaks > 1 {
			// A blank line inside a quote stays in the quote.
			if q := min(t.quote, t.lastQuote); q > 0 {
				t.b.WriteString(quotePrefix(q))
			}
			t.b.WriteByte('\n')
		}
		t.lineStart = true
	}
	t.breaks = 0
	if t.lineStart {
		if t.quote > 0 {
			t.b.WriteString(quotePrefix(t.quote) + " ")
		}
		t.lastQuote = t.quote
		t.lineStart = false
	} else if t.space && s != "" {
		t.b.WriteByte(' ')
	}
	t.space = false
	t.b.WriteString(s)
	t.msoWrote = true
	if t.href != "" {
		t.linkText.WriteString(s)
	}
}

// trimReply returns the new text of a reply: everything before the first
// marker of quoted history or signature, without the quoted lines at the
// end. Markers, each on its own line:
//
//   - an attribution "On <date>, <name> wrote:" as Gmail, Apple Mail,
//     Thunderbird and others write it (possibly wrapped over up to three
//     lines, in a few languages; it must contain a digit, as dates do), or
//     any line ending in "wrote:" directly followed by quoted lines;
//   - "-----Original Message-----" and its translations;
//   - Outlook's header block: "From:" followed within a few lines by
//     "Sent:" (or "Date:") and "To:"/"Subject:", including the bold
//     "*From:*" of converted HTML and a rule of underscores above it;
//   - a signature separator "-- " (or "--"), or a mobile footer such as
//     "Sent from my iPhone" or "Get Outlook for Android".
//
// Quoted lines (">") inside the new text, as in an inline answer, stay. If
// trimming would leave nothing, the full text is kept.
func trimReply(full string) string {
	lines := strings.Split(full, "\n")
	cut := len(lines)
	for i := range lines {
		if n, ok := quoteMarker(lines, i); ok {
			cut = n
			break
		}
		if isSignatureStart(lines[i]) {
			cut = i
			break
		}
	}
	lines = lines[:cut]
	for {
		n := len(lines)
		for n > 0 {
			l := strings.TrimSpace(lines[n-1])
			if l != "" && !strings.HasPrefix(l, ">") {
				break
			}
			n--
		}
		// A bare "Name wrote:" left above the removed quote goes too.
		if n > 0 && n < len(lines) && isWroteLine(lines[n-1]) {
			n--
		}
		if n == len(lines) {
			break
		}
		lines = lines[:n]
	}
	text := strings.TrimSpace(strings.Join(lines, "\n"))
	if text == "" {
		return full
	}
	return text
}

var (
	attributionStarts = []string{"on ", "le ", "am ", "el ", "il ", "op ", "em ", "den ", "dne "}
	attributionEnds   = []string{"wrote:", "a écrit :", "a écrit:", "schrieb:", "escribió:", "ha scritto:", "schreef:", "escreveu:", "skrev:", "napsal:"}
	originalMessage   = []string{"original message", "ursprüngliche nachricht", "message d'origine", "mensaje original", "messaggio originale", "oorspronkelijk bericht"}
	mobileFooters     = []string{"sent from my ", "sent from outlook", "sent from mail for windows", "sent from yahoo mail", "sent from samsung", "get outlook for ", "envoyé de mon ", "von meinem iphone", "von meinem ipad", "enviado desde mi ", "verzonden vanaf mijn "}
	fromLabels        = []string{"from", "de", "von", "van", "da"}
	sentLabels        = []string{"sent", "date", "envoyé", "gesendet", "datum", "enviado", "inviato", "verzonden", "fecha", "data"}
	toLabels          = []string{"to", "subject", "à", "an", "objet", "betreff", "para", "asunto", "aan", "onderwerp", "a", "oggetto", "cc"}
)

// quoteMarker reports whether line i starts the quoted history, and the
// line to cut at (a separator rule right above an Outlook block goes too).
func quoteMarker(lines []string, i int) (int, bool) {
	l := strings.ToLower(strings.TrimSpace(lines[i]))
	if l == "" {
		return 0, false
	}
	// "On … wrote:", possibly wrapped.
	for _, p := range attributionStarts {
		if !strings.HasPrefix(l, p) {
			continue
		}
		joined := l
		for k := i; k < len(lines) && k < i+3; k++ {
			if k > i {
				joined += " " + strings.ToLower(strings.TrimSpace(lines[k]))
			}
			if len(joined) > 400 {
				break
			}
			if isAttribution(joined) {
				return i, true
			}
		}
	}
	// "Name <addr> wrote:" directly followed by a quote.
	if isWroteLine(l) {
		for k := i + 1; k < len(lines); k++ {
			next := strings.TrimSpace(lines[k])
			if next == "" {
				continue
			}
			if strings.HasPrefix(next, ">") {
				return i, true
			}
			break
		}
	}
	// "-----Original Message-----"
	if strings.HasPrefix(l, "--") && strings.HasSuffix(l, "--") {
		inner := strings.TrimSpace(strings.Trim(l, "-"))
		for _, m := range originalMessage {
			if inner == m {
				return i, true
			}
		}
	}
	// Outlook's "From: / Sent: / To: / Subject:" block.
	if hasLabel(l, fromLabels) {
		sent, to := false, false
		for k := i + 1; k < len(lines) && k <= i+6; k++ {
			n := strings.ToLower(strings.TrimSpace(lines[k]))
			sent = sent || hasLabel(n, sentLabels)
			to = to || hasLabel(n, toLabels)
		}
		if sent && to {
			cut := i
			for k := i - 1; k >= 0; k-- {
				p := strings.TrimSpace(lines[k])
				if p == "" {
					continue
				}
				if len(p) >= 10 && (strings.Trim(p, "_") == "" || strings.Trim(p, "-") == "") {
					cut = k
				}
				break
			}
			return cut, true
		}
	}
	return 0, false
}

// hasLabel reports whether l (lower-cased) starts with one of the header
// labels and a colon, allowing the "*From:*" of converted bold text.
func hasLabel(l string, labels []string) bool {
	l = strings.TrimPrefix(l, "*")
	for _, lab := range labels {
		rest, ok := strings.CutPrefix(l, lab)
		if !ok {
			continue
		}
		rest = strings.TrimLeft(rest, " ")
		rest = strings.TrimPrefix(rest, "*")
		if strings.HasPrefix(rest, ":") {
			return true
		}
	}
	return false
}

// isAttribution reports whether l (lower-cased, unwrapped) reads like
// "On <date>, <name> wrote:" or the German and Dutch "Am <date> schrieb
// <name>:". A date has digits; a sentence of the customer's seldom both
// starts so and ends so.
func isAttribution(l string) bool {
	if len(l) > 400 || !strings.ContainsAny(l, "0123456789") {
		return false
	}
	if hasSuffixAny(l, attributionEnds) {
		return true
	}
	return strings.HasSuffix(l, ":") && (strings.Contains(l, " schrieb ") || strings.Contains(l, " schreef "))
}

func isWroteLine(l string) bool {
	l = strings.ToLower(strings.TrimSpace(l))
	return len(l) < 400 && hasSuffixAny(l, attributionEnds)
}

func hasSuffixAny(s string, suffixes []string) bool {
	for _, x := range suffixes {
		if strings.HasSuffix(s, x) {
			return true
		}
	}
	return false
}

// isSignatureStart reports a signature separator or a mobile footer.
func isSignatureStart(line string) bool {
	if line == "-- " || strings.TrimRight(line, " \t") == "--" {
		return true
	}
	l := strings.ToLower(strings.TrimSpace(line))
	if len(l) > 60 {
		return false
	}
	for _, p := range mobileFooters {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}
