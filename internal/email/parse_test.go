package email

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"switchboard/internal/apperr"
)

// attachment is what a test expects of a Part: the data by length and hash.
type attachment struct {
	Name, ContentType string
	Size              int
	SHA256            string
}

func attachmentsOf(in Inbound) []attachment {
	var out []attachment
	for _, p := range in.Attachments {
		sum := sha256.Sum256(p.Data)
		out = append(out, attachment{p.Name, p.ContentType, len(p.Data), hex.EncodeToString(sum[:])})
	}
	return out
}

func readSample(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// crlf returns raw with every line ending as on the wire.
func crlf(raw []byte) []byte {
	return bytes.ReplaceAll(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
}

func TestParseSamples(t *testing.T) {
	tests := []struct {
		file        string
		from, name  string
		subject     string
		messageID   string
		refs        []string
		fullText    string
		text        string
		attachments []attachment
		automatic   bool
	}{
		{
			file: "gmail_reply.eml",
			from: "jane.doe@gmail.com", name: "Jane Doe",
			subject:   "Re: Export fails — again",
			messageID: "CAJ8xQ7Ue1Lr+9mZsV2k3Gd0=hPqWn4eYt5cA@mail.gmail.com",
			refs:      []string{"outbox-1751.42@example.com", "outbox-1742.42@example.com"},
			fullText: "Hi,\n\nThanks! The export works now — one more question: can I schedule it weekly?\n\nJane\n\n" +
				"On Mon, 3 Nov 2026 at 10:02, Support <reply+42-k4vqz7m2xw5ra3nd@example.com>\nwrote:\n\n" +
				"> Hello Jane,\n>\n> We fixed the export bug. Could you try again?\n>\n> --\n> Support team\n>",
			text: "Hi,\n\nThanks! The export works now — one more question: can I schedule it weekly?\n\nJane",
		},
		{
			file: "outlook_reply.eml",
			from: "tom.becker@acme.example", name: "Tom Becker",
			subject:   "RE: Invoice address [#77]",
			messageID: "AM0PR04MB6945D3C1E0B2A7F4C1D2E3F4A5B6@AM0PR04MB6945.eurprd04.prod.outlook.com",
			refs: []string{
				"outbox-2020.77@example.com",
				"AM0PR04MB6945A1B2C3D4E5F60718293A4B5C@AM0PR04MB6945.eurprd04.prod.outlook.com",
				"outbox-2013.77@example.com",
				"outbox-2001.77@example.com",
			},
			fullText: "Hello,\n\nThe invoice still shows the old address. Could you correct it?\n\nBest regards\nTom Becker\nAcme GmbH\n\n" +
				"________________________________\nFrom: Support <support@example.com>\nSent: Monday, November 3, 2026 10:02 AM\n" +
				"To: Tom Becker <tom.becker@acme.example>\nSubject: RE: Invoice address [#77]\n\n" +
				"Hello Tom,\n\nWe have updated your billing details.\n\nKind regards,\nSupport",
			text: "Hello,\n\nThe invoice still shows the old address. Could you correct it?\n\nBest regards\nTom Becker\nAcme GmbH",
		},
		{
			file: "apple_reply.eml",
			from: "j.lambert@icloud.com", name: "Julie Lambert",
			subject:   "Re: Export fails",
			messageID: "5C8E2A41-7B0D-4F6A-9E3C-1D2B3A4C5E6F@icloud.com",
			refs:      []string{"outbox-1751.42@example.com"},
			fullText: "Perfect, that did it. I’ll tell the team.\n\nJulie\n\nSent from my iPhone\n\n" +
				"> On 3 Nov 2026, at 10:02, Support <reply+42-k4vqz7m2xw5ra3nd@example.com> wrote:\n> \n" +
				"> Hello Julie,\n> \n> We fixed the export bug. Could you try again?\n>",
			text: "Perfect, that did it. I’ll tell the team.\n\nJulie",
		},
		{
			file: "html_only.eml",
			from: "renee@shop.example", name: "Renée",
			subject:   "Re: Your order",
			messageID: "20261103120502.88F1C2A0@mail.shop.example",
			refs:      []string{"outbox-1751.42@example.com"},
			fullText: "Hello,\n\nI ordered two licences & got only one.\nOrder number: <A-1234>.\n\nWhat I’d like:\n\n" +
				"- a second licence key\n- an invoice for both\n\n" +
				"Details are on my order page <https://shop.example/orders/A-1234>. Café € 12 per seat.\n\n" +
				"Renée\nOn Mon, 3 Nov 2026 at 10:02, Support wrote:\n\n> Thank you for your order.\n>\n> Your key is below.",
			text: "Hello,\n\nI ordered two licences & got only one.\nOrder number: <A-1234>.\n\nWhat I’d like:\n\n" +
				"- a second licence key\n- an invoice for both\n\n" +
				"Details are on my order page <https://shop.example/orders/A-1234>. Café € 12 per seat.\n\nRenée",
		},
		{
			file: "latin1_qp.eml",
			from: "j.mueller@provider.example", name: "Jürgen Müller",
			subject:   "Re: Rückerstattung für Bestellung A-981",
			messageID: "4f2a9c1e-8d3b-4a5c-b7e6-0123456789ab@provider.example",
			refs:      []string{"outbox-2020.77@example.com"},
			// format=flowed: the soft break after "und" is joined.
			fullText: "Guten Tag,\n\nvielen Dank für die schnelle Hilfe! Die Änderung ist angekommen, und die Gutschrift über 45,00 EUR sehe ich jetzt auch.\n\n" +
				"Mit freundlichen Grüßen\nJürgen Müller\n\nAm 03.11.26 um 10:02 schrieb Support:\n> Guten Tag Herr Müller,\n> \n> wir haben die Rückerstattung veranlasst.",
			text: "Guten Tag,\n\nvielen Dank für die schnelle Hilfe! Die Änderung ist angekommen, und die Gutschrift über 45,00 EUR sehe ich jetzt auch.\n\n" +
				"Mit freundlichen Grüßen\nJürgen Müller",
		},
		{
			file: "cp1252_8bit.eml",
			from: "sobrien@firma.example", name: "O'Brien, Siobhan",
			subject:   "AW: Angebot 2026 [#88]",
			messageID: "000001db4e7f$2a3b4c50$7e8f9a0b$@firma.example",
			refs:      []string{"outbox-3101.88@example.com", "outbox-3090.88@example.com"},
			fullText: "Hi,\n\nthe “Pro” plan at € 1,200 – that’s fine for us. Please send the contract.\n\nSiobhan\n\n" +
				"-----Original Message-----\nFrom: Support <support@example.com> \nSent: Tuesday, 4 November 2026 10:02\n" +
				"To: O'Brien, Siobhan <SOBrien@firma.example>\nSubject: Angebot 2026 [#88]\n\nHi Siobhan,\n\nattached is our offer.",
			text: "Hi,\n\nthe “Pro” plan at € 1,200 – that’s fine for us. Please send the contract.\n\nSiobhan",
		},
		{
			file: "png_attachment.eml",
			from: "jane.doe@gmail.com", name: "Jane Doe",
			subject:   "Re: Export fails",
			messageID: "CAJ8xQ7W3n9Kd0pLq2sTzR1=yBvX5fUo8hGm@mail.gmail.com",
			refs:      []string{"outbox-1751.42@example.com"},
			fullText:  "Here is a screenshot of the error.\n\nJane",
			text:      "Here is a screenshot of the error.\n\nJane",
			attachments: []attachment{
				{"logo.png", "image/png", 72, "1ce22e865994e92010de75b56e624a7ea9e11d29f8178dec80c984939dabd484"},
				{"Screenshot 2026-11-03 at 10.38.51.png", "image/png", 76, "c0ebfa5579f71e48d775f5430d5aeaa95ddc202fb9bca587412b1ef4b02fa81b"},
			},
		},
		{
			file: "bounce.eml",
			from: "mailer-daemon@mx.mailhost.example", name: "Mail Delivery System",
			subject:   "Undelivered Mail Returned to Sender",
			messageID: "20261103100312.4Q1c2D3e4F@mx.mailhost.example",
			// The returned message's id threads the bounce.
			refs: []string{"outbox-1751.42@example.com"},
			fullText: "This is the mail system at host mx.mailhost.example.\n\n" +
				"I'm sorry to have to inform you that your message could not\nbe delivered to one or more recipients. It's attached below.\n\n" +
				"For further assistance, please send mail to postmaster.\n\n" +
				"If you do so, please include this problem report. You can\ndelete your own text from the attached returned message.\n\n" +
				"                   The mail system\n\n" +
				"<old.address@mailhost.example>: host mx.mailhost.example[192.0.2.25] said: 550\n" +
				"    5.1.1 <old.address@mailhost.example>: Recipient address rejected: User\n" +
				"    unknown in virtual mailbox table (in reply to RCPT TO command)",
			automatic: true,
		},
		{
			file: "autoreply.eml",
			from: "k.weber@firma.example", name: "Klaus Weber",
			subject:   "Automatic reply: Angebot 2026 [#88]",
			messageID: "e3b0c44298fc1c149afbf4c8996fb924@EXCH02.firma.example",
			refs:      []string{"outbox-3101.88@example.com"},
			fullText: "Ich bin bis zum 10. November außer Haus. In dringenden Fällen wenden Sie sich bitte an info@firma.example.\n\n" +
				"I am out of the office until 10 November.",
			automatic: true,
		},
	}
	for _, tt := range tests {
		if tt.text == "" {
			tt.text = tt.fullText // nothing to trim
		}
		for _, variant := range []string{"lf", "crlf"} {
			t.Run(tt.file+"/"+variant, func(t *testing.T) {
				raw := readSample(t, tt.file)
				if variant == "crlf" {
					raw = crlf(raw)
				}
				in, err := Parse(raw)
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				check := func(field string, got, want any) {
					t.Helper()
					if !reflect.DeepEqual(got, want) {
						t.Errorf("%s:\n got %#v\nwant %#v", field, got, want)
					}
				}
				check("From", in.From, tt.from)
				check("FromName", in.FromName, tt.name)
				check("Subject", in.Subject, tt.subject)
				check("MessageID", in.MessageID, tt.messageID)
				check("References", in.References, tt.refs)
				check("FullText", in.FullText, tt.fullText)
				check("Text", in.Text, tt.text)
				check("Attachments", attachmentsOf(in), tt.attachments)
				check("Automatic", in.Automatic, tt.automatic)
				check("ConversationID", in.ConversationID, int64(0))
				if in.Raw != nil {
					t.Error("Parse set Raw; that is the listener's job")
				}
			})
		}
	}
}

func TestParseMalformed(t *testing.T) {
	tests := map[string]string{
		"sample: multipart without boundary": string(readSample(t, "malformed.eml")),
		"header line without colon":          "From: a@example.com\nThis is not a header\nSubject: x\n\nbody\n",
		"header starts with a space":         " From: a@example.com\n\nbody\n",
		"boundary never appears":             "From: a@example.com\nContent-Type: multipart/mixed; boundary=XX\n\nno parts here\n",
		"closing boundary missing":           "From: a@example.com\nContent-Type: multipart/mixed; boundary=XX\n\n--XX\nContent-Type: text/plain\n\nhello\n",
		"corrupt base64 text":                "From: a@example.com\nContent-Transfer-Encoding: base64\n\n!!!!####\n",
		"corrupt base64 attachment": "From: a@example.com\nContent-Type: multipart/mixed; boundary=XX\n\n--XX\n\nhi\n--XX\n" +
			"Content-Type: image/png; name=a.png\nContent-Transfer-Encoding: base64\n\n%%%%\n--XX--\n",
		"no From": "Subject: hello\n\nbody\n",
		"nesting too deep": "From: a@example.com\n" + strings.Repeat("Content-Type: multipart/mixed; boundary=B\n\n--B\n", maxMIMEDepth+2) +
			"\nx\n",
		"empty": "",
	}
	for name, raw := range tests {
		t.Run(name, func(t *testing.T) {
			in, err := Parse([]byte(raw))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", in)
			}
			if apperr.CodeOf(err) != "malformed_mail" || apperr.KindOf(err) != apperr.KindInvalid {
				t.Fatalf("err = %v, want invalid malformed_mail", err)
			}
		})
	}
}

func TestParseLenient(t *testing.T) {
	tests := []struct {
		name, raw      string
		from, fullText string
		subject        string
	}{
		{
			name: "headers only, no blank line",
			raw:  "From: a@example.com\nSubject: Hi", from: "a@example.com", subject: "Hi",
		},
		{
			name: "unknown charset read as Windows-1252",
			raw:  "From: a@example.com\nContent-Type: text/plain; charset=x-klingon\n\ncaf\xe9\n",
			from: "a@example.com", fullText: "café",
		},
		{
			name: "undeclared 8-bit text read as Windows-1252",
			raw:  "From: a@example.com\n\n\x93quoted\x94 \x80 5\n",
			from: "a@example.com", fullText: "“quoted” € 5",
		},
		{
			name: "declared UTF-8 with a broken byte keeps the rest",
			raw:  "From: a@example.com\nContent-Type: text/plain; charset=utf-8\n\ncafé \xff ok\n",
			from: "a@example.com", fullText: "café \uFFFD ok",
		},
		{
			name: "unknown transfer encoding read as is",
			raw:  "From: a@example.com\nContent-Transfer-Encoding: x-unknown\n\nplain words\n",
			from: "a@example.com", fullText: "plain words",
		},
		{
			name: "From with unquoted specials",
			raw:  "From: Doe, John <John.Doe@Example.com>\n\nhi\n",
			from: "john.doe@example.com", fullText: "hi",
		},
		{
			name: "NUL bytes dropped",
			raw:  "From: a@example.com\n\nhel\x00lo\n",
			from: "a@example.com", fullText: "hello",
		},
		{
			name: "text attachment is a file, not the body",
			raw: "From: a@example.com\nContent-Type: multipart/mixed; boundary=XX\n\n--XX\nContent-Type: text/plain\n\nsee attached\n--XX\n" +
				"Content-Type: text/plain; charset=utf-8\nContent-Disposition: attachment; filename=\"../../etc/notes.txt\"\n\nsecret notes\n--XX--\n",
			from: "a@example.com", fullText: "see attached",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := Parse([]byte(tt.raw))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if in.From != tt.from || in.FullText != tt.fullText || in.Subject != tt.subject {
				t.Fatalf("got From %q FullText %q Subject %q, want %q %q %q", in.From, in.FullText, in.Subject, tt.from, tt.fullText, tt.subject)
			}
		})
	}

	in, err := Parse([]byte(tests[len(tests)-1].raw))
	if err != nil {
		t.Fatal(err)
	}
	if got := attachmentsOf(in); len(got) != 1 || got[0].Name != "notes.txt" || got[0].ContentType != "text/plain" || string(in.Attachments[0].Data) != "secret notes" {
		t.Fatalf("attachment = %+v (%q)", got, in.Attachments)
	}
}

func TestParseGeneratedMessageID(t *testing.T) {
	a := []byte("From: a@example.com\nSubject: no id\n\nhello\n")
	b := []byte("From: a@example.com\nSubject: no id\n\nhello!\n")
	ia, err := Parse(a)
	if err != nil {
		t.Fatal(err)
	}
	ia2, _ := Parse(a)
	ib, _ := Parse(b)
	sum := sha256.Sum256(a)
	if want := hex.EncodeToString(sum[:]) + "@switchboard.invalid"; ia.MessageID != want {
		t.Fatalf("MessageID = %q, want %q", ia.MessageID, want)
	}
	if ia.MessageID != ia2.MessageID || ia.MessageID == ib.MessageID {
		t.Fatalf("generated ids not stable per content: %q %q %q", ia.MessageID, ia2.MessageID, ib.MessageID)
	}
}

func TestParseReferences(t *testing.T) {
	raw := "From: a@example.com\nMessage-ID:  <x@y>  \nIn-Reply-To: <c@example.com> (Support's message)\n" +
		"References: <a@example.com>\n <b@example.com> <c@example.com>\n\nhi\n"
	in, err := Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"c@example.com", "b@example.com", "a@example.com"}; !reflect.DeepEqual(in.References, want) {
		t.Fatalf("References = %q, want %q", in.References, want)
	}
	if in.MessageID != "x@y" {
		t.Fatalf("MessageID = %q", in.MessageID)
	}
	// Mailers that forget the brackets.
	in, _ = Parse([]byte("From: a@example.com\nIn-Reply-To: q@example.com\nReferences: p@example.com q@example.com\n\nhi\n"))
	if want := []string{"q@example.com", "p@example.com"}; !reflect.DeepEqual(in.References, want) {
		t.Fatalf("References = %q, want %q", in.References, want)
	}
}

func TestParseAutomatic(t *testing.T) {
	tests := []struct {
		header string
		want   bool
	}{
		{"", false},
		{"Auto-Submitted: no\n", false},
		{"Auto-Submitted: No (a person)\n", false},
		{"Auto-Submitted: auto-replied\n", true},
		{"Auto-Submitted: auto-generated; owner-email=\"x@example.com\"\n", true},
		{"X-Autoreply: yes\n", true},
		{"X-Autorespond: Out of office\n", true},
		{"Precedence: bulk\n", true},
		{"Precedence: junk\n", true},
		{"Precedence: list\n", true},
		{"Precedence: first-class\n", false},
		{"List-Id: Announcements <announce.lists.example.com>\n", true},
		{"Return-Path: <>\n", true},
		{"Return-Path: < >\n", true},
		{"Return-Path: <someone@example.com>\n", false},
		{"X-Auto-Response-Suppress: All\n", false}, // set by Outlook on ordinary mail
		{"Content-Type: message/delivery-status\n", true},
	}
	for _, tt := range tests {
		raw := "From: a@example.com\nSubject: s\n" + tt.header + "\nbody\n"
		in, err := Parse([]byte(raw))
		if err != nil {
			t.Fatalf("%q: %v", tt.header, err)
		}
		if in.Automatic != tt.want {
			t.Errorf("%q: Automatic = %v, want %v", tt.header, in.Automatic, tt.want)
		}
	}
}

func TestParseTrimReply(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "Just text.", "Just text."},
		{"trailing quote", "Yes please.\n\n> Shall we?\n> Best", "Yes please."},
		{"inline answers stay", "> Q1?\nA1\n> Q2?\nA2\n\n> bye", "> Q1?\nA1\n> Q2?\nA2"},
		{"gmail one line", "Thanks\n\nOn Mon, 3 Nov 2026 at 10:02, Support <s@example.com> wrote:\n> old", "Thanks"},
		{"gmail wrapped", "Thanks\n\nOn Mon, 3 Nov 2026 at 10:02, Support <\ns@example.com> wrote:\n\n> old", "Thanks"},
		{"apple desktop", "Sure.\n\nOn 3 Nov 2026, at 10:02, Support <s@example.com> wrote:\n\n> old", "Sure."},
		{"thunderbird", "Ok\n\nOn 11/3/26 10:02, Support wrote:\n> old", "Ok"},
		{"french", "Merci\n\nLe lun. 3 nov. 2026 à 10:02, Support <s@example.com> a écrit :\n> old", "Merci"},
		{"german gmail", "Danke\n\nAm Mo., 3. Nov. 2026 um 10:02 Uhr schrieb Support <s@example.com>:\n> alt", "Danke"},
		{"name wrote then quote", "Fine.\n\nSupport <s@example.com> wrote:\n> old", "Fine."},
		{"sentence that starts with On is kept", "On Monday my colleague wrote: it still fails.", "On Monday my colleague wrote: it still fails."},
		{"original message", "Agreed.\n\n-----Original Message-----\nFrom: Support\nSent: today\n\nold", "Agreed."},
		{"outlook block", "Agreed.\n\nFrom: Support <s@example.com>\nSent: Monday, November 3, 2026 10:02 AM\nTo: Me\nSubject: RE: x\n\nold", "Agreed."},
		{"outlook bold block with rule", "Agreed.\n\n________________________________\n*From:* Support\n*Sent:* Monday\n*To:* Me\n\nold", "Agreed."},
		{"outlook german", "Passt.\n\nVon: Support <s@example.com>\nGesendet: Montag, 3. November 2026 10:02\nAn: Ich\nBetreff: AW: x\n\nalt", "Passt."},
		{"a From: line alone is text", "From: my experience, it works.\nThanks", "From: my experience, it works.\nThanks"},
		{"signature dash dash space", "See you.\n-- \nJane Doe\nACME", "See you."},
		{"signature dash dash", "See you.\n--\nJane Doe", "See you."},
		{"sent from my iphone", "Yes\n\nSent from my iPhone", "Yes"},
		{"get outlook", "Yes\n\nGet Outlook for Android\n________________________________\nFrom: x", "Yes"},
		{"german iphone", "Ja\n\nVon meinem iPhone gesendet", "Ja"},
		{"long sent-from sentence is text", "Sent from my office in Berlin yesterday, the parcel should arrive tomorrow morning at the latest.", "Sent from my office in Berlin yesterday, the parcel should arrive tomorrow morning at the latest."},
		{"only a quote keeps everything", "> just a quote", "> just a quote"},
		{"only a signature keeps everything", "-- \nJane", "-- \nJane"},
		{"top posting then signature then quote", "New text\n\n-- \nSig\n\nOn 3 Nov 2026, at 10:02, S wrote:\n> q", "New text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := trimReply(tt.in); got != tt.want {
				t.Fatalf("trimReply(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseHTMLToText(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"paragraphs and breaks", "<p>One</p><p>Two<br>Three</p>", "One\n\nTwo\nThree"},
		{"divs with empty line", "<div>a</div><div><br></div><div>b</div>", "a\n\nb"},
		{"script style head dropped", "<html><head><title>T</title><style>p{}</style></head><body><script>x()</script><p>Hi</p><SCRIPT type=x>y</SCRIPT></body></html>", "Hi"},
		{"entities", "Fish &amp; chips &lt;3 &eacute;&#233;&#xE9; &nbsp;x", "Fish & chips <3 ééé x"},
		{"whitespace collapsed", "  a \n\t b  ", "a b"},
		{"pre kept", "<pre>a  b\n  c</pre>", "a  b\n  c"},
		{"list", "<ul><li>x</li><li>y</li></ul>", "- x\n- y"},
		{"table cells", "<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "a b\nc"},
		{"link with address", `<a href="https://x.example/a">here</a>`, "here <https://x.example/a>"},
		{"link that is its address", `<a href="https://x.example/a">https://x.example/a</a>`, "https://x.example/a"},
		{"javascript link dropped", `<a href="javascript:alert(1)">click</a>`, "click"},
		{"blockquote quoted", "<p>Yes</p><blockquote><p>Q1</p><p>Q2</p></blockquote>", "Yes\n\n> Q1\n>\n> Q2"},
		{"comment dropped", "a<!-- <p>hidden</p> -->b", "ab"},
		{"lone less-than", "1 < 2", "1 < 2"},
		{"unclosed tag", "a <b", "a"},
		{"word paragraphs", `<p class="MsoNormal">A<o:p></o:p></p><p class="MsoNormal"><o:p>&nbsp;</o:p></p><p class=MsoNormal>B</p>`, "A\n\nB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := strings.TrimSpace(htmlToText(tt.in)); got != tt.want {
				t.Fatalf("htmlToText(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzParse feeds mutated mails to Parse: it must never panic, fail only
// with malformed_mail, and return clean UTF-8 when it succeeds. The
// testdata samples are the seed corpus, so `go test` runs them every time.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.eml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds: %v", err)
	}
	for _, file := range files {
		raw := readSample(f, filepath.Base(file))
		f.Add(raw)
		f.Add(crlf(raw))
	}
	f.Add([]byte("From: a@example.com\nContent-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/html\n\n<p>x</p><blockquote>y\n--B--\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		in, err := Parse(raw)
		if err != nil {
			if apperr.CodeOf(err) != "malformed_mail" {
				t.Fatalf("unexpected error %v", err)
			}
			if strings.Contains(err.Error(), "panic:") {
				t.Fatalf("Parse recovered a panic: %v", err)
			}
			return
		}
		for field, s := range map[string]string{"Text": in.Text, "FullText": in.FullText, "Subject": in.Subject, "FromName": in.FromName, "From": in.From, "MessageID": in.MessageID} {
			if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
				t.Fatalf("%s is not clean UTF-8: %q", field, s)
			}
		}
		if in.From == "" || in.MessageID == "" {
			t.Fatalf("missing From or MessageID: %+v", in)
		}
		if in.FullText != "" && in.Text == "" {
			t.Fatal("Text empty though FullText is not")
		}
		for _, r := range in.References {
			if r == "" || strings.ContainsAny(r, "<> \r\n") {
				t.Fatalf("bad reference %q", r)
			}
		}
	})
}
