package channel

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"

	"switchboard/internal/apperr"
)

// refSignature is the documented algorithm written out by hand for the
// tests, independently of twilioSignature: the URL, then name+value of each
// parameter with the names in sorted order, HMAC-SHA1 keyed with the auth
// token, base64. The names are given here already sorted.
func refSignature(token, fullURL string, sortedPairs ...string) string {
	s := fullURL
	for _, p := range sortedPairs {
		s += p
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func TestVerifySignature(t *testing.T) {
	// Vectors from Twilio's own Go library (github.com/twilio/twilio-go,
	// client/request_validator_test.go), reproduced here by computation:
	// auth token 12345, URL https://mycompany.com/myapp.php?foo=1&bar=2.
	const docURL = "https://mycompany.com/myapp.php?foo=1&bar=2"
	docParams := url.Values{
		"Digits":  {"1234"},
		"CallSid": {"CA1234567890ABCDE"},
		"To":      {"+18005551212"},
		"Caller":  {"+14158675309"},
		"From":    {"+14158675309"},
	}
	const docSig = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
	if got := refSignature("12345", docURL, "CallSidCA1234567890ABCDE", "Caller+14158675309", "Digits1234", "From+14158675309", "To+18005551212"); got != docSig {
		t.Fatalf("reference algorithm gives %s for Twilio's vector, want %s", got, docSig)
	}
	if got := twilioSignature("12345", docURL, docParams); got != docSig {
		t.Fatalf("twilioSignature = %s, want %s", got, docSig)
	}

	// A fixed messaging vector computed from the documented algorithm.
	inURL := "https://chat.example.com/channel/twilio/inbound?site=abc"
	inForm := url.Values{
		"MessageSid": {testMessageSID}, "From": {"whatsapp:+14155552671"}, "To": {"whatsapp:+14155238886"},
		"Body": {"Hi & bye = ünïcode 👋"}, "NumMedia": {"0"}, "ProfileName": {"Ada"}, "WaId": {"14155552671"},
	}
	inSig := refSignature(testToken, inURL,
		"BodyHi & bye = ünïcode 👋", "Fromwhatsapp:+14155552671", "MessageSid"+testMessageSID,
		"NumMedia0", "ProfileNameAda", "Towhatsapp:+14155238886", "WaId14155552671")

	tampered := url.Values{}
	for k, v := range inForm {
		tampered[k] = append([]string(nil), v...)
	}
	tampered.Set("Body", "Hi & bye = ünïcode 👋!")
	extra := url.Values{}
	for k, v := range inForm {
		extra[k] = v
	}
	extra.Set("Injected", "1")

	tests := []struct {
		name  string
		token string
		url   string
		form  url.Values
		sig   string
		want  bool
	}{
		{"twilio vector", "12345", docURL, docParams, docSig, true},
		{"twilio vector, https with port 443 signed without", "12345", strings.Replace(docURL, ".com", ".com:443", 1), docParams, docSig, true},
		{"twilio vector, https with :443 signature", "12345", docURL, docParams, "kvajT1Ptam85bY51eRf/AJRuM3w=", true},
		{"twilio vector, https with port 1234 signed without", "12345", strings.Replace(docURL, ".com", ".com:1234", 1), docParams, docSig, true},
		{"twilio vector, http with :80 signature", "12345", strings.Replace(docURL, "https", "http", 1), docParams, "0ZXoZLH/DfblKGATFgpif+LLRf4=", true},
		{"twilio vector, http with port 1234", "12345", strings.Replace(strings.Replace(docURL, "https", "http", 1), ".com", ".com:1234", 1), docParams, "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=", true},
		{"twilio vector, wrong token", "54321", docURL, docParams, docSig, false},
		{"twilio vector, other query", "12345", "https://mycompany.com/myapp.php?foo=1&bar=3", docParams, docSig, false},
		{"twilio vector, http signed as https", "12345", strings.Replace(docURL, "https", "http", 1), docParams, docSig, false},
		{"inbound", testToken, inURL, inForm, inSig, true},
		{"inbound, tampered body", testToken, inURL, tampered, inSig, false},
		{"inbound, extra parameter", testToken, inURL, extra, inSig, false},
		{"inbound, other path", testToken, "https://chat.example.com/channel/twilio/inbound?site=abd", inForm, inSig, false},
		{"empty signature", testToken, inURL, inForm, "", false},
		{"empty token", "", inURL, inForm, refSignature("", inURL), false},
		{"garbage signature", testToken, inURL, inForm, "not base64!", false},
		{"no params", testToken, inURL, url.Values{}, refSignature(testToken, inURL), true},
	}
	for _, tc := range tests {
		if got := VerifySignature(tc.token, tc.url, tc.form, tc.sig); got != tc.want {
			t.Errorf("%s: VerifySignature = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestSignatureSortsByName(t *testing.T) {
	// Sorting by name differs from sorting the concatenated name+value:
	// "A"+"z" and "AB"+"c" — names sort A < AB, concatenations "ABc" < "Az".
	form := url.Values{"AB": {"c"}, "A": {"z"}}
	u := "https://example.com/hook"
	if got, want := twilioSignature(testToken, u, form), refSignature(testToken, u, "Az", "ABc"); got != want {
		t.Fatalf("signature %s, want %s (sorted by name)", got, want)
	}
	// A repeated name contributes each value, values in sorted order.
	form = url.Values{"M": {"b", "a"}}
	if got, want := twilioSignature(testToken, u, form), refSignature(testToken, u, "Ma", "Mb"); got != want {
		t.Fatalf("repeated name: %s, want %s", got, want)
	}
}

func TestParseInbound(t *testing.T) {
	sms := url.Values{
		"ToCountry": {"US"}, "ToState": {"CA"}, "SmsMessageSid": {testMessageSID}, "NumMedia": {"0"},
		"SmsSid": {testMessageSID}, "SmsStatus": {"received"}, "Body": {"Is my order shipped?"},
		"FromCountry": {"US"}, "To": {"+15017122661"}, "NumSegments": {"1"}, "MessageSid": {testMessageSID},
		"AccountSid": {testAccount}, "From": {"+14155552671"}, "ApiVersion": {"2010-04-01"},
	}
	in, err := ParseInbound(sms)
	if err != nil {
		t.Fatal(err)
	}
	want := Inbound{Channel: "sms", From: "+14155552671", To: "+15017122661", Body: "Is my order shipped?", ProviderID: testMessageSID}
	if !reflect.DeepEqual(in, want) {
		t.Fatalf("got %+v\nwant %+v", in, want)
	}

	mms := url.Values{
		"MessageSid": {"MM" + testMessageSID[2:]}, "From": {"+14155552671"}, "To": {"+15017122661"}, "Body": {""},
		"NumMedia":          {"2"},
		"MediaUrl0":         {"https://api.twilio.com/2010-04-01/Accounts/" + testAccount + "/Messages/MM1/Media/ME1"},
		"MediaContentType0": {"image/jpeg"},
		"MediaUrl1":         {"https://api.twilio.com/2010-04-01/Accounts/" + testAccount + "/Messages/MM1/Media/ME2"},
		"MediaContentType1": {"application/pdf"},
	}
	in, err = ParseInbound(mms)
	if err != nil {
		t.Fatal(err)
	}
	if in.Channel != "sms" || len(in.Media) != 2 || in.Media[1].ContentType != "application/pdf" || !strings.HasSuffix(in.Media[0].URL, "/ME1") {
		t.Fatalf("mms %+v", in)
	}

	wa := url.Values{
		"MessageSid": {testMessageSID}, "From": {"whatsapp:+447700900123"}, "To": {"whatsapp:+14155238886"},
		"Body": {"hello"}, "NumMedia": {"1"}, "MediaUrl0": {"https://api.twilio.com/media/1"},
		"MediaContentType0": {"image/png"}, "ProfileName": {"Ada Lovelace"}, "WaId": {"447700900123"},
		"MessageType": {"image"},
	}
	in, err = ParseInbound(wa)
	if err != nil {
		t.Fatal(err)
	}
	want = Inbound{Channel: "whatsapp", From: "+447700900123", To: "+14155238886", Body: "hello", ProviderID: testMessageSID,
		Media: []MediaRef{{URL: "https://api.twilio.com/media/1", ContentType: "image/png"}}, ProfileName: "Ada Lovelace"}
	if !reflect.DeepEqual(in, want) {
		t.Fatalf("got %+v\nwant %+v", in, want)
	}

	bad := []struct {
		name string
		mod  func(url.Values)
		code string
	}{
		{"no sid", func(v url.Values) { v.Del("MessageSid") }, "malformed_webhook"},
		{"bad sid", func(v url.Values) { v.Set("MessageSid", "SM123") }, "malformed_webhook"},
		{"no from", func(v url.Values) { v.Del("From") }, CodeInvalidPhone},
		{"from not e164", func(v url.Values) { v.Set("From", "whatsapp:447700900123") }, CodeInvalidPhone},
		{"to not e164", func(v url.Values) { v.Set("To", "whatsapp:") }, CodeInvalidPhone},
		{"mixed channels", func(v url.Values) { v.Set("To", "+14155238886") }, "malformed_webhook"},
		{"messenger", func(v url.Values) { v.Set("From", "messenger:1234"); v.Set("To", "messenger:5678") }, "malformed_webhook"},
		{"NumMedia not a number", func(v url.Values) { v.Set("NumMedia", "one") }, "malformed_webhook"},
		{"NumMedia negative", func(v url.Values) { v.Set("NumMedia", "-1") }, "malformed_webhook"},
		{"NumMedia too large", func(v url.Values) { v.Set("NumMedia", "11") }, "malformed_webhook"},
		{"media url missing", func(v url.Values) { v.Set("NumMedia", "2") }, "malformed_webhook"},
		{"media url not http", func(v url.Values) { v.Set("MediaUrl0", "javascript:alert(1)") }, "malformed_webhook"},
		{"media type malformed", func(v url.Values) { v.Set("MediaContentType0", "image/") }, "malformed_webhook"},
	}
	for _, tc := range bad {
		v := url.Values{}
		for k, vs := range wa {
			v[k] = append([]string(nil), vs...)
		}
		tc.mod(v)
		_, err := ParseInbound(v)
		if apperr.CodeOf(err) != tc.code || apperr.KindOf(err) != apperr.KindInvalid {
			t.Errorf("%s: err %v, want code %s", tc.name, err, tc.code)
		}
	}
}

func TestParseStatus(t *testing.T) {
	sid, status, code := ParseStatus(url.Values{
		"SmsSid": {testMessageSID}, "SmsStatus": {"undelivered"}, "MessageStatus": {"undelivered"},
		"MessageSid": {testMessageSID}, "AccountSid": {testAccount}, "From": {"whatsapp:+14155238886"},
		"To": {"whatsapp:+447700900123"}, "ErrorCode": {"63016"}, "ApiVersion": {"2010-04-01"},
	})
	if sid != testMessageSID || status != "undelivered" || code != "63016" {
		t.Fatalf("%q %q %q", sid, status, code)
	}
	sid, status, code = ParseStatus(url.Values{"SmsSid": {testMessageSID}, "SmsStatus": {"delivered"}})
	if sid != testMessageSID || status != "delivered" || code != "" {
		t.Fatalf("legacy names: %q %q %q", sid, status, code)
	}
}

// signedRequest builds a webhook request as Twilio sends it.
func signedRequest(method, target string, form url.Values, sig string) *http.Request {
	body := form.Encode()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("I-Twilio-Idempotency-Token", "b2f8c9a4-1d6e-4f1b-9d55-7c0b1f0f3c11")
	if sig != "" {
		r.Header.Set("X-Twilio-Signature", sig)
	}
	return r
}

func TestWebhookHandler(t *testing.T) {
	const public = "https://chat.example.com/channel/twilio/inbound?site=abc"
	publicURL := func(*http.Request) string { return public }
	inbound := url.Values{
		"MessageSid": {testMessageSID}, "AccountSid": {testAccount},
		"From": {"whatsapp:+447700900123"}, "To": {"whatsapp:+14155238886"},
		"Body": {"Can you call me back?"}, "NumMedia": {"0"}, "ProfileName": {"Ada"}, "WaId": {"447700900123"},
		"SmsStatus": {"received"}, "ApiVersion": {"2010-04-01"},
	}
	sig := twilioSignature(testToken, public, inbound)

	var mu sync.Mutex
	var got []Inbound
	fail := false
	h := NewWebhook(testToken, publicURL, func(ctx context.Context, in Inbound) error {
		mu.Lock()
		defer mu.Unlock()
		if ctx == nil {
			t.Error("nil context")
		}
		if fail {
			return errors.New("store down")
		}
		got = append(got, in)
		return nil
	})

	t.Run("happy path", func(t *testing.T) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, signedRequest("POST", "/channel/twilio/inbound?site=abc", inbound, sig))
		if rec.Code != 200 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/xml") {
			t.Fatalf("Content-Type %q", ct)
		}
		if b := rec.Body.String(); !strings.Contains(b, "<Response/>") || strings.Contains(b, "<Message") {
			t.Fatalf("body %q", b)
		}
		mu.Lock()
		defer mu.Unlock()
		want := Inbound{Channel: "whatsapp", From: "+447700900123", To: "+14155238886", Body: "Can you call me back?",
			ProviderID: testMessageSID, ProfileName: "Ada"}
		if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
			t.Fatalf("delivered %+v", got)
		}
	})

	malformedForm := url.Values{}
	for k, v := range inbound {
		malformedForm[k] = v
	}
	malformedForm.Set("From", "whatsapp:0044 7700")
	tooBig := url.Values{}
	for k, v := range inbound {
		tooBig[k] = v
	}
	tooBig.Set("Body", strings.Repeat("x", MaxWebhookBytes))

	rejections := []struct {
		name   string
		req    func() *http.Request
		status int
	}{
		{"GET", func() *http.Request {
			return signedRequest("GET", "/channel/twilio/inbound?site=abc", url.Values{}, sig)
		}, 405},
		{"PUT", func() *http.Request { return signedRequest("PUT", "/channel/twilio/inbound?site=abc", inbound, sig) }, 405},
		{"missing signature", func() *http.Request { return signedRequest("POST", "/x", inbound, "") }, 403},
		{"wrong signature", func() *http.Request {
			return signedRequest("POST", "/x", inbound, twilioSignature("other-token", public, inbound))
		}, 403},
		{"signature for another URL", func() *http.Request {
			return signedRequest("POST", "/x", inbound, twilioSignature(testToken, public+"&x=1", inbound))
		}, 403},
		{"tampered body", func() *http.Request {
			f := url.Values{}
			for k, v := range inbound {
				f[k] = v
			}
			f.Set("Body", "send me your password")
			return signedRequest("POST", "/x", f, sig)
		}, 403},
		{"oversized, declared", func() *http.Request {
			return signedRequest("POST", "/x", tooBig, twilioSignature(testToken, public, tooBig))
		}, 413},
		{"oversized, chunked", func() *http.Request {
			r := signedRequest("POST", "/x", tooBig, twilioSignature(testToken, public, tooBig))
			r.ContentLength = -1
			r.Body = io.NopCloser(strings.NewReader(tooBig.Encode()))
			return r
		}, 413},
		{"not a form", func() *http.Request {
			r := signedRequest("POST", "/x", inbound, sig)
			r.Header.Set("Content-Type", "application/json")
			return r
		}, 415},
		{"unparsable form", func() *http.Request {
			r := httptest.NewRequest("POST", "/x", strings.NewReader("Body=%zz"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("X-Twilio-Signature", sig)
			return r
		}, 400},
		{"malformed fields, signed", func() *http.Request {
			return signedRequest("POST", "/x", malformedForm, twilioSignature(testToken, public, malformedForm))
		}, 400},
		{"signed empty form", func() *http.Request {
			return signedRequest("POST", "/x", url.Values{}, twilioSignature(testToken, public, url.Values{}))
		}, 400},
	}
	for _, tc := range rejections {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			before := len(got)
			mu.Unlock()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, tc.req())
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.status == 405 && rec.Header().Get("Allow") != "POST" {
				t.Fatalf("Allow %q", rec.Header().Get("Allow"))
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != before {
				t.Fatal("a rejected request was delivered")
			}
		})
	}

	t.Run("deliver fails", func(t *testing.T) {
		mu.Lock()
		fail = true
		mu.Unlock()
		defer func() { mu.Lock(); fail = false; mu.Unlock() }()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, signedRequest("POST", "/x", inbound, sig))
		if rec.Code != 500 {
			t.Fatalf("status %d", rec.Code)
		}
		if strings.Contains(rec.Body.String(), "store down") {
			t.Fatal("the deliver error leaked to the caller")
		}
	})
}

func TestWebhookOverHTTP(t *testing.T) {
	// Through a real server and the default publicURL (the request's own URL).
	delivered := make(chan Inbound, 1)
	h := NewWebhook(testToken, nil, func(ctx context.Context, in Inbound) error {
		delivered <- in
		return nil
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	target := srv.URL + "/hooks/sms?tenant=7"
	form := url.Values{"MessageSid": {testMessageSID}, "From": {"+14155552671"}, "To": {"+15017122661"}, "Body": {"yes"}}
	req, _ := http.NewRequest("POST", target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", refSignature(testToken, target, "Body"+"yes", "From+14155552671", "MessageSid"+testMessageSID, "To+15017122661"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<Response/>") || resp.Header.Get("Content-Type") != "text/xml; charset=utf-8" {
		t.Fatalf("%d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if in := <-delivered; in.Channel != "sms" || in.Body != "yes" || in.From != "+14155552671" {
		t.Fatalf("delivered %+v", in)
	}
}

func TestStatusWebhook(t *testing.T) {
	const public = "https://chat.example.com/channel/twilio/status"
	var got []StatusUpdate
	h := NewStatusWebhook(testToken, func(*http.Request) string { return public }, func(ctx context.Context, s StatusUpdate) error {
		got = append(got, s)
		return nil
	})
	cb := url.Values{
		"MessageSid": {testMessageSID}, "SmsSid": {testMessageSID}, "MessageStatus": {"failed"}, "SmsStatus": {"failed"},
		"ErrorCode": {"63016"}, "AccountSid": {testAccount}, "From": {"whatsapp:+14155238886"}, "To": {"whatsapp:+447700900123"},
		"ApiVersion": {"2010-04-01"}, "ChannelPrefix": {"whatsapp"},
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, signedRequest("POST", "/channel/twilio/status", cb, twilioSignature(testToken, public, cb)))
	if rec.Code != 200 || len(got) != 1 || got[0] != (StatusUpdate{ProviderID: testMessageSID, Status: "failed", ErrorCode: "63016"}) {
		t.Fatalf("%d %+v", rec.Code, got)
	}
	if !errors.Is(DeliveryError(got[0].ErrorCode), ErrTemplateRequired) {
		t.Fatalf("DeliveryError(%s) = %v", got[0].ErrorCode, DeliveryError(got[0].ErrorCode))
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, signedRequest("POST", "/channel/twilio/status", cb, twilioSignature("nope", public, cb)))
	if rec.Code != 403 {
		t.Fatalf("bad signature: %d", rec.Code)
	}
	noStatus := url.Values{"MessageSid": {testMessageSID}}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, signedRequest("POST", "/channel/twilio/status", noStatus, twilioSignature(testToken, public, noStatus)))
	if rec.Code != 400 || len(got) != 1 {
		t.Fatalf("missing status: %d", rec.Code)
	}
}
