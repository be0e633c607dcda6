package server_test

// Browser test of SMS and WhatsApp in the console: a customer texts in by
// WhatsApp (the signed webhook), an agent answers the live chat by
// WhatsApp and ends it; two days later (a settable clock) free text is
// refused outside WhatsApp's 24-hour window, the console asks for a
// template and sends it, and an SMS goes out from the ticket view — each
// checked at a local server speaking Twilio's API (startFakeTwilio,
// channels_e2e_test.go).

import (
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"switchboard/internal/server"
)

func TestChannelsConsoleBrowser(t *testing.T) {
	browser := consoleNewBrowser(t)
	tw := startFakeTwilio(t)
	clk := newSettableClock(time.Now())
	n := startNode(t, "", func(c *server.Config) {
		c.Clock = clk
		c.Channels = server.ChannelsConfig{SiteKey: "demo", Twilio: channelTwilio(tw.srv.URL)}
	})
	n.seed()
	shots := consoleArtifacts(t)
	const phone = "+14155550100"

	alice := consolePage{t: t, ctx: browser, name: "alice"}
	alice.signIn(n.base, "alice@demo.test", "demo-agent-pass")
	alice.waitFor("the socket", `document.querySelector('#conn-banner') === null`)
	alice.setAvailability("available")

	// --- Pat texts in by WhatsApp: a waiting chat, marked WhatsApp
	st := twilioPost(t, n.base+"/webhooks/twilio", url.Values{
		"MessageSid": {"SM00000000000000000000000000000b01"}, "AccountSid": {testAccountSID},
		"From": {"whatsapp:" + phone}, "To": {"whatsapp:+14155550999"}, "Body": {"Is my order shipped?"},
		"NumMedia": {"0"}, "ProfileName": {"Pat"}, "WaId": {"14155550100"},
	}, testAuthToken)
	if st != 200 {
		t.Fatalf("webhook: %d", st)
	}
	alice.waitFor("the incoming chip", `document.querySelector('.chip.chip-incoming')`)
	conv, err := strconv.ParseInt(consoleEval[string](alice, `document.querySelector('.chip.chip-incoming').dataset.conv`), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	sel := fmt.Sprintf(`[data-conv="%d"]`, conv)
	alice.do(chromedp.Click(chromedp.ID("nav-queue")))
	alice.waitFor("the queue row with a WhatsApp badge", `document.querySelector('#queue-list .row`+sel+` .channel[data-channel=whatsapp]')`+
		` && document.querySelector('#queue-list .row`+sel+`').textContent.includes('Is my order shipped?')`)

	// --- join from the chip: the reply goes by WhatsApp, not into the widget
	alice.joinFromChip(conv)
	alice.waitFor("the chat, joined", `document.querySelector('.chip.chip-mine`+sel+`') && document.querySelector('#end-chat')`+
		` && document.querySelector('#conv-channel').textContent === 'WhatsApp'`+
		` && document.querySelector('#customer-phone') && document.querySelector('#customer-phone').textContent === `+consoleJS(phone)+
		` && document.querySelector('#mode-reply').textContent === 'Text the customer'`+
		` && document.querySelector('#text-composer[data-channel=whatsapp]') && !document.querySelector('#composer-input')`+
		` && [...document.querySelectorAll('.entry.visitor.by-whatsapp .body-text')].some(e => e.textContent === 'Is my order shipped?')`)
	alice.do(chromedp.SendKeys(chromedp.ID("text-input"), "Yes, it left today."), chromedp.Click(chromedp.ID("text-send")))
	tw.wait(t, "the WhatsApp reply in the chat", func(v url.Values) bool {
		return v.Get("To") == "whatsapp:"+phone && v.Get("From") == "whatsapp:+14155550999" && v.Get("Body") == "Yes, it left today."
	})
	alice.waitFor("the reply, sent by WhatsApp", `document.querySelector('#text-sent') && document.querySelector('#text-sent').textContent.includes('by WhatsApp')`+
		` && [...document.querySelectorAll('.entry.agent.by-whatsapp .body-text')].some(e => e.textContent === 'Yes, it left today.')`+
		` && document.querySelector('#text-input').value === ''`)

	// --- end the chat: the chat screen still offers to text the customer
	alice.do(chromedp.Click(chromedp.ID("end-chat")))
	alice.waitFor("the confirmation", `document.querySelector('#confirm-end-yes')`)
	alice.do(chromedp.Click(chromedp.ID("confirm-end-yes")))
	alice.waitFor("the chat, ended", `!document.querySelector('#end-chat') && document.querySelector('#ended-reply-note')`+
		` && document.querySelector('#text-composer[data-channel=whatsapp]') && !document.querySelector('#text-input').disabled`)

	// --- two days later: free text by WhatsApp is refused, a template goes
	clk.Advance(48 * time.Hour)
	alice.do(chromedp.SendKeys(chromedp.ID("text-input"), "Anything else?"), chromedp.Click(chromedp.ID("text-send")))
	alice.waitFor("the template_required error and the template fields", `document.querySelector('#text-error') && document.querySelector('#text-error').textContent.includes('24 hours')`+
		` && document.querySelector('#text-use-template').checked && document.querySelector('#text-template-sid') && document.querySelector('#text-template-vars')`+
		` && document.querySelector('#text-send').textContent === 'Send template'`)
	alice.screenshot(shots, "channels-template-required")
	// a malformed SID and a bad variables line are explained before anything is sent
	alice.do(chromedp.SendKeys(chromedp.ID("text-template-sid"), "HX123"), chromedp.Click(chromedp.ID("text-send")))
	alice.waitFor("the SID refused", `document.querySelector('#text-error').textContent.includes('32')`)
	template := "HX0123456789abcdef0123456789abcdef"
	consoleEval[bool](alice, `(document.querySelector('#text-template-sid').value = '', true)`)
	alice.do(chromedp.SendKeys(chromedp.ID("text-template-sid"), template), chromedp.SendKeys(chromedp.ID("text-template-vars"), "Pat"), chromedp.Click(chromedp.ID("text-send")))
	alice.waitFor("the variables refused", `document.querySelector('#text-error').textContent.includes('Line 1') && document.querySelector('#text-error').textContent.includes('key=value')`)
	consoleEval[bool](alice, `(document.querySelector('#text-template-vars').value = '', true)`)
	alice.do(chromedp.SendKeys(chromedp.ID("text-template-vars"), "1=Pat"), chromedp.Click(chromedp.ID("text-send")))
	tw.wait(t, "the template", func(v url.Values) bool {
		return v.Get("To") == "whatsapp:"+phone && v.Get("ContentSid") == template && v.Get("ContentVariables") == `{"1":"Pat"}` && v.Get("Body") == ""
	})
	alice.waitFor("the template, sent", `document.querySelector('#text-sent') && document.querySelector('#text-sent').textContent.includes('Template sent') && !document.querySelector('#text-error')`+
		` && [...document.querySelectorAll('.entry.agent.by-whatsapp .body-text')].some(e => e.textContent.includes(`+consoleJS(template)+`))`)
	tw.mu.Lock()
	for _, v := range tw.sent {
		if v.Get("Body") == "Anything else?" {
			tw.mu.Unlock()
			t.Fatal("the free text went out outside the 24-hour window")
		}
	}
	tw.mu.Unlock()

	// --- the ticket view: badge, phone, and an SMS
	alice.do(chromedp.Navigate(fmt.Sprintf("%s/console/t/%d", n.base, conv)))
	alice.waitFor("the ticket", `document.querySelector('#ticket-channel') && document.querySelector('#ticket-channel').textContent === 'WhatsApp'`+
		` && document.querySelector('#ticket-customer-phone') && document.querySelector('#ticket-customer-phone').textContent === `+consoleJS(phone)+
		` && document.querySelector('#ticket-mode-text[aria-selected=true]') && document.querySelector('#text-composer[data-channel=whatsapp]')`)
	alice.do(chromedp.Click(chromedp.CSS(`#text-composer .seg-opt[data-channel=sms]`)))
	alice.waitFor("SMS picked", `document.querySelector('#text-composer[data-channel=sms]') && document.querySelector('#text-channel-sms').checked && !document.querySelector('#text-use-template')`)
	alice.do(chromedp.SendKeys(chromedp.ID("text-input"), "Your parcel arrives tomorrow."), chromedp.Click(chromedp.ID("text-send")))
	tw.wait(t, "the SMS", func(v url.Values) bool {
		return v.Get("To") == phone && v.Get("From") == "+14155550111" && v.Get("Body") == "Your parcel arrives tomorrow."
	})
	alice.waitFor("the SMS, sent and logged", `document.querySelector('#text-sent') && document.querySelector('#text-sent').textContent.includes('by SMS')`+
		` && [...document.querySelectorAll('.entry.agent.by-sms .body-text')].some(e => e.textContent === 'Your parcel arrives tomorrow.')`+
		` && document.querySelector('#mail-log li[data-transport=sms][data-state=sent]') && document.querySelector('#mail-log li[data-transport=whatsapp]')`)
	alice.screenshot(shots, "channels-ticket")

	// --- the Closed list (a template closes the ticket) shows the badge
	alice.do(chromedp.Click(chromedp.ID("nav-tickets")))
	alice.waitFor("the tabs", `document.querySelector('#tab-closed')`)
	alice.do(chromedp.Click(chromedp.ID("tab-closed")))
	alice.waitFor("the closed row with a WhatsApp badge", `document.querySelector('#tickets-list[aria-busy=false] .row`+sel+` .channel[data-channel=whatsapp]')`)
}
