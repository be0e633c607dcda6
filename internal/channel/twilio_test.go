package channel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/internal/apperr"
)

const (
	testAccount    = "AC0123456789abcdef0123456789abcdef"
	testToken      = "f00dfacef00dfacef00dfacef00dface"
	testSMSFrom    = "+15017122661"
	testWAFrom     = "+14155238886"
	testService    = "MG9752274e9e519418a7406176694466fa"
	testContentSID = "HXb5b62575e6e4ff6129ad7c8efe1f983e"
	testMissingSID = "HX00000000000000000000000000000000"
	testMessageSID = "SM1f0e8ae6ade43cb3c0ce4525424e404f"
)

// fakeTwilio speaks the subset of Twilio's REST API that the adapter uses:
// POST /2010-04-01/Accounts/{AccountSid}/Messages.json with Basic auth and a
// form body, answering 201 with a Message resource or Twilio's error JSON.
// Which answer comes back depends on the To number, as with Twilio's magic
// test numbers (+15005550001 invalid, +15005550004 unsubscribed, …).
type fakeTwilio struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	requests []url.Values
}

func newFakeTwilio(t *testing.T) *fakeTwilio {
	f := &fakeTwilio{t: t}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeTwilio) last() url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		f.t.Fatal("no request reached the fake Twilio")
	}
	return f.requests[len(f.requests)-1]
}

func (f *fakeTwilio) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

func twilioErrorJSON(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]any{
		"code": code, "message": msg,
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code),
		"status":    status,
	})
	w.Write(b)
}

func (f *fakeTwilio) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		twilioErrorJSON(w, 405, 20004, "Method not allowed")
		return
	}
	wantPath := "/2010-04-01/Accounts/" + testAccount + "/Messages.json"
	if r.URL.Path != wantPath {
		twilioErrorJSON(w, 404, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok || user != testAccount || pass != testToken {
		twilioErrorJSON(w, 401, 20003, "Authenticate")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		f.t.Errorf("Content-Type %q", ct)
	}
	if err := r.ParseForm(); err != nil {
		twilioErrorJSON(w, 400, 20001, "Invalid form")
		return
	}
	form := r.PostForm
	f.mu.Lock()
	f.requests = append(f.requests, form)
	f.mu.Unlock()

	to := strings.TrimPrefix(form.Get("To"), "whatsapp:")
	switch {
	case to == "+15005550001":
		twilioErrorJSON(w, 400, 21211, "Invalid 'To' Phone Number: +15005550001")
		return
	case to == "+15005550009":
		twilioErrorJSON(w, 400, 21614, "'To' number is not a valid mobile number")
		return
	case to == "+15005550004":
		twilioErrorJSON(w, 400, 21610, "Attempt to send to unsubscribed recipient")
		return
	case to == "+15005550016":
		twilioErrorJSON(w, 400, 63016, "Failed to send freeform message because you are outside the allowed window. If you are using WhatsApp, please use a Message Template.")
		return
	case to == "+15005550056":
		twilioErrorJSON(w, 400, 21656, "The ContentVariables Parameter is invalid.")
		return
	case to == "+15005550429":
		w.Header().Set("Retry-After", "1")
		twilioErrorJSON(w, 429, 20429, "Too Many Requests")
		return
	case to == "+15005550500":
		twilioErrorJSON(w, 500, 20500, "An internal server error has occurred")
		return
	case to == "+15005550502":
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(502)
		w.Write([]byte("<html><body>502 Bad Gateway</body></html>"))
		return
	case to == "+15005550099": // hang until the client gives up
		<-r.Context().Done()
		return
	}
	switch form.Get("ContentSid") {
	case testMissingSID:
		twilioErrorJSON(w, 404, 20404, "The requested resource /Content/"+testMissingSID+" was not found")
		return
	case "HX11111111111111111111111111111111":
		twilioErrorJSON(w, 400, 21655, "The ContentSid is Invalid")
		return
	}

	status, from, service := "queued", any(form.Get("From")), any(nil)
	if s := form.Get("MessagingServiceSid"); s != "" {
		status, from, service = "accepted", nil, s
	}
	errorCode, errorMessage := any(nil), any(nil)
	if to == "+15005550077" { // created, but already failed
		status, errorCode, errorMessage = "failed", 63016, "Outside the allowed window"
	}
	resp := map[string]any{
		"account_sid":           testAccount,
		"api_version":           "2010-04-01",
		"body":                  form.Get("Body"),
		"date_created":          "Thu, 24 Aug 2023 05:01:45 +0000",
		"date_sent":             nil,
		"date_updated":          "Thu, 24 Aug 2023 05:01:45 +0000",
		"direction":             "outbound-api",
		"error_code":            errorCode,
		"error_message":         errorMessage,
		"from":                  from,
		"messaging_service_sid": service,
		"num_media":             "0",
		"num_segments":          "1",
		"price":                 nil,
		"price_unit":            nil,
		"sid":                   testMessageSID,
		"status":                status,
		"subresource_uris": map[string]string{
			"media": "/2010-04-01/Accounts/" + testAccount + "/Messages/" + testMessageSID + "/Media.json",
		},
		"to":  form.Get("To"),
		"uri": "/2010-04-01/Accounts/" + testAccount + "/Messages/" + testMessageSID + ".json",
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(resp)
}

func newTestTwilio(t *testing.T, f *fakeTwilio, mod func(*TwilioConfig)) *Twilio {
	t.Helper()
	cfg := TwilioConfig{
		AccountSID: testAccount, AuthToken: testToken,
		From: testSMSFrom, WhatsAppFrom: testWAFrom,
		BaseURL: f.srv.URL + "/", Timeout: 2 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	tw, err := NewTwilio(cfg)
	if err != nil {
		t.Fatalf("NewTwilio: %v", err)
	}
	return tw
}

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func TestTwilioSendWireFormat(t *testing.T) {
	f := newFakeTwilio(t)
	tw := newTestTwilio(t, f, nil)
	ctx := context.Background()

	tests := []struct {
		name    string
		adapter Adapter
		mod     func(*TwilioConfig)
		m       Outgoing
		want    url.Values
		status  string
	}{
		{
			name: "sms body", adapter: tw.SMS(),
			m:      Outgoing{To: "+14155552671", Body: "Hi, following up on your order & <stuff>"},
			want:   form("To", "+14155552671", "From", testSMSFrom, "Body", "Hi, following up on your order & <stuff>"),
			status: "queued",
		},
		{
			name: "sms with status callback", adapter: tw.SMS(),
			m:      Outgoing{To: "+14155552671", Body: "hello", StatusCallback: "https://chat.example.com/twilio/status?site=1"},
			want:   form("To", "+14155552671", "From", testSMSFrom, "Body", "hello", "StatusCallback", "https://chat.example.com/twilio/status?site=1"),
			status: "queued",
		},
		{
			name: "whatsapp body", adapter: tw.WhatsApp(),
			m:      Outgoing{To: "+447700900123", Body: "Hallo 👋"},
			want:   form("To", "whatsapp:+447700900123", "From", "whatsapp:"+testWAFrom, "Body", "Hallo 👋"),
			status: "queued",
		},
		{
			name: "whatsapp template ignores body", adapter: tw.WhatsApp(),
			m: Outgoing{To: "+447700900123", Body: "ignored", TemplateID: testContentSID,
				TemplateVars: map[string]string{"2": "3pm", "1": "12/1 & <b>"}},
			want: form("To", "whatsapp:+447700900123", "From", "whatsapp:"+testWAFrom,
				"ContentSid", testContentSID, "ContentVariables", `{"1":"12/1 & <b>","2":"3pm"}`),
			status: "queued",
		},
		{
			name: "whatsapp template without variables", adapter: tw.WhatsApp(),
			m:      Outgoing{To: "+447700900123", TemplateID: testContentSID},
			want:   form("To", "whatsapp:+447700900123", "From", "whatsapp:"+testWAFrom, "ContentSid", testContentSID),
			status: "queued",
		},
		{
			name: "messaging service", adapter: newTestTwilio(t, f, func(c *TwilioConfig) { c.From = testService }).SMS(),
			m:      Outgoing{To: "+14155552671", Body: "hi"},
			want:   form("To", "+14155552671", "MessagingServiceSid", testService, "Body", "hi"),
			status: "accepted",
		},
		{
			name: "whatsapp via messaging service", adapter: newTestTwilio(t, f, func(c *TwilioConfig) { c.WhatsAppFrom = testService }).WhatsApp(),
			m:      Outgoing{To: "+14155552671", TemplateID: testContentSID, TemplateVars: map[string]string{"1": "Ada"}},
			want:   form("To", "whatsapp:+14155552671", "MessagingServiceSid", testService, "ContentSid", testContentSID, "ContentVariables", `{"1":"Ada"}`),
			status: "accepted",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sent, err := tc.adapter.Send(ctx, tc.m)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if sent.ProviderID != testMessageSID || sent.Status != tc.status {
				t.Fatalf("sent %+v", sent)
			}
			if got := f.last(); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("form\n got %v\nwant %v", got, tc.want)
			}
		})
	}
	if tw.SMS().Name() != "sms" || tw.WhatsApp().Name() != "whatsapp" {
		t.Fatalf("names %q %q", tw.SMS().Name(), tw.WhatsApp().Name())
	}
}

func TestTwilioSendErrors(t *testing.T) {
	f := newFakeTwilio(t)
	tw := newTestTwilio(t, f, nil)
	ctx := context.Background()

	tests := []struct {
		name       string
		adapter    Adapter
		m          Outgoing
		code       string
		kind       apperr.Kind
		twilio     int // expected Twilio error code in the ProviderError, 0: none
		reachesAPI bool
	}{
		{"not e164", tw.SMS(), Outgoing{To: "4155552671", Body: "x"}, CodeInvalidPhone, apperr.KindInvalid, 0, false},
		{"spaces", tw.SMS(), Outgoing{To: "+1 415 555 2671", Body: "x"}, CodeInvalidPhone, apperr.KindInvalid, 0, false},
		{"empty body", tw.SMS(), Outgoing{To: "+14155552671", Body: "  \n"}, "body_required", apperr.KindInvalid, 0, false},
		{"body too long", tw.SMS(), Outgoing{To: "+14155552671", Body: strings.Repeat("é", MaxBodyChars+1)}, "body_too_long", apperr.KindTooLarge, 0, false},
		{"malformed content sid", tw.WhatsApp(), Outgoing{To: "+14155552671", TemplateID: "my_template"}, CodeTemplateNotFound, apperr.KindNotFound, 0, false},
		{"bad status callback", tw.SMS(), Outgoing{To: "+14155552671", Body: "x", StatusCallback: "/relative"}, "status_callback_invalid", apperr.KindInvalid, 0, false},
		{"21211 invalid To", tw.SMS(), Outgoing{To: "+15005550001", Body: "x"}, CodeInvalidPhone, apperr.KindInvalid, 21211, true},
		{"21614 not mobile", tw.SMS(), Outgoing{To: "+15005550009", Body: "x"}, CodeInvalidPhone, apperr.KindInvalid, 21614, true},
		{"21610 unsubscribed", tw.SMS(), Outgoing{To: "+15005550004", Body: "x"}, CodeProviderRejected, apperr.KindConflict, 21610, true},
		{"63016 outside window", tw.WhatsApp(), Outgoing{To: "+15005550016", Body: "x"}, CodeTemplateRequired, apperr.KindConflict, 63016, true},
		{"63016 after creation", tw.WhatsApp(), Outgoing{To: "+15005550077", Body: "x"}, CodeTemplateRequired, apperr.KindConflict, 63016, true},
		{"21656 bad variables", tw.WhatsApp(), Outgoing{To: "+15005550056", TemplateID: testContentSID}, CodeProviderRejected, apperr.KindInvalid, 21656, true},
		{"21655 content sid invalid", tw.WhatsApp(), Outgoing{To: "+14155552671", TemplateID: "HX11111111111111111111111111111111"}, CodeTemplateNotFound, apperr.KindNotFound, 21655, true},
		{"404 on content sid", tw.WhatsApp(), Outgoing{To: "+14155552671", TemplateID: testMissingSID}, CodeTemplateNotFound, apperr.KindNotFound, 20404, true},
		{"429", tw.SMS(), Outgoing{To: "+15005550429", Body: "x"}, CodeProviderUnavailable, apperr.KindUnavailable, 20429, true},
		{"500 json", tw.SMS(), Outgoing{To: "+15005550500", Body: "x"}, CodeProviderUnavailable, apperr.KindUnavailable, 20500, true},
		{"502 html", tw.SMS(), Outgoing{To: "+15005550502", Body: "x"}, CodeProviderUnavailable, apperr.KindUnavailable, 0, true},
		{"20003 auth", newTestTwilio(t, f, func(c *TwilioConfig) { c.AuthToken = "wrong" }).SMS(), Outgoing{To: "+14155552671", Body: "x"}, CodeProviderRejected, apperr.KindInternal, 20003, false},
		{"20404 wrong account", newTestTwilio(t, f, func(c *TwilioConfig) { c.AccountSID = "AC" + strings.Repeat("f", 32) }).SMS(), Outgoing{To: "+14155552671", Body: "x"}, CodeProviderRejected, apperr.KindInternal, 20404, false},
		{"sms not configured", newTestTwilio(t, f, func(c *TwilioConfig) { c.From = "" }).SMS(), Outgoing{To: "+14155552671", Body: "x"}, "channel_not_configured", apperr.KindConflict, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := f.count()
			sent, err := tc.adapter.Send(ctx, tc.m)
			if err == nil {
				t.Fatalf("Send succeeded: %+v", sent)
			}
			if apperr.CodeOf(err) != tc.code || apperr.KindOf(err) != tc.kind {
				t.Fatalf("err %v: code %q kind %q, want %q %q", err, apperr.CodeOf(err), apperr.KindOf(err), tc.code, tc.kind)
			}
			if got := f.count() > before; got != tc.reachesAPI {
				t.Fatalf("request reached the API: %v, want %v", got, tc.reachesAPI)
			}
			pe, ok := ProviderErrorOf(err)
			if tc.twilio == 0 {
				if ok && pe.Code != 0 {
					t.Fatalf("unexpected provider code %d", pe.Code)
				}
			} else {
				if !ok || pe.Code != tc.twilio || pe.Message == "" {
					t.Fatalf("provider error %+v, want code %d", pe, tc.twilio)
				}
			}
			if Retryable(err) != (tc.code == CodeProviderUnavailable) {
				t.Fatalf("Retryable(%v) = %v", err, Retryable(err))
			}
		})
	}

	// The kept Twilio details, for one rejection.
	_, err := tw.SMS().Send(ctx, Outgoing{To: "+15005550004", Body: "x"})
	pe, _ := ProviderErrorOf(err)
	if pe.HTTPStatus != 400 || pe.MoreInfo != "https://www.twilio.com/docs/errors/21610" ||
		!strings.Contains(apperr.As(err).Message, "unsubscribed") || !errors.Is(err, ErrProviderRejected) {
		t.Fatalf("provider error %+v / %v", pe, err)
	}
	// A message created but already failed still reports its SID.
	sent, err := tw.WhatsApp().Send(ctx, Outgoing{To: "+15005550077", Body: "x"})
	if sent.ProviderID != testMessageSID || sent.Status != "failed" || !errors.Is(err, ErrTemplateRequired) {
		t.Fatalf("sent %+v err %v", sent, err)
	}
}

func TestTwilioTimeoutAndNetworkFailures(t *testing.T) {
	f := newFakeTwilio(t)

	t.Run("config timeout", func(t *testing.T) {
		tw := newTestTwilio(t, f, func(c *TwilioConfig) { c.Timeout = 50 * time.Millisecond })
		start := time.Now()
		_, err := tw.SMS().Send(context.Background(), Outgoing{To: "+15005550099", Body: "x"})
		if apperr.CodeOf(err) != CodeProviderUnavailable || !Retryable(err) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("timeout took %v", d)
		}
	})
	t.Run("caller deadline", func(t *testing.T) {
		tw := newTestTwilio(t, f, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := tw.WhatsApp().Send(ctx, Outgoing{To: "+15005550099", Body: "x"})
		if apperr.CodeOf(err) != CodeProviderUnavailable || apperr.KindOf(err) != apperr.KindUnavailable {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("http client timeout", func(t *testing.T) {
		tw := newTestTwilio(t, f, func(c *TwilioConfig) { c.HTTPClient = &http.Client{Timeout: 50 * time.Millisecond} })
		_, err := tw.SMS().Send(context.Background(), Outgoing{To: "+15005550099", Body: "x"})
		if apperr.CodeOf(err) != CodeProviderUnavailable {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		base := dead.URL
		dead.Close()
		tw := newTestTwilio(t, f, func(c *TwilioConfig) { c.BaseURL = base })
		_, err := tw.SMS().Send(context.Background(), Outgoing{To: "+14155552671", Body: "x"})
		if apperr.CodeOf(err) != CodeProviderUnavailable || !Retryable(err) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("garbage 201", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte("not json"))
		}))
		defer srv.Close()
		tw := newTestTwilio(t, f, func(c *TwilioConfig) { c.BaseURL = srv.URL })
		_, err := tw.SMS().Send(context.Background(), Outgoing{To: "+14155552671", Body: "x"})
		if apperr.CodeOf(err) != CodeProviderUnavailable {
			t.Fatalf("err %v", err)
		}
	})
}

func TestTwilioConcurrentSends(t *testing.T) {
	f := newFakeTwilio(t)
	tw := newTestTwilio(t, f, nil)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := tw.SMS()
			if i%2 == 1 {
				a = tw.WhatsApp()
			}
			if _, err := a.Send(context.Background(), Outgoing{To: "+14155552671", Body: "hi"}); err != nil {
				t.Errorf("Send: %v", err)
			}
		}()
	}
	wg.Wait()
	if f.count() != 20 {
		t.Fatalf("%d requests", f.count())
	}
}

func TestNewTwilioConfig(t *testing.T) {
	ok := TwilioConfig{AccountSID: testAccount, AuthToken: testToken, From: testSMSFrom}
	if _, err := NewTwilio(ok); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	bad := []func(*TwilioConfig){
		func(c *TwilioConfig) { c.AccountSID = "" },
		func(c *TwilioConfig) { c.AccountSID = "SK0123456789abcdef0123456789abcdef" },
		func(c *TwilioConfig) { c.AuthToken = "" },
		func(c *TwilioConfig) { c.From = "" },
		func(c *TwilioConfig) { c.From = "5017122661" },
		func(c *TwilioConfig) { c.From = "MGshort" },
		func(c *TwilioConfig) { c.WhatsAppFrom = "whatsapp:+14155238886" },
		func(c *TwilioConfig) { c.BaseURL = "api.twilio.com" },
	}
	for i, mod := range bad {
		cfg := ok
		mod(&cfg)
		if _, err := NewTwilio(cfg); apperr.CodeOf(err) != "channel_config_invalid" {
			t.Errorf("case %d: err %v", i, err)
		}
	}
	tw, _ := NewTwilio(ok)
	if tw.endpoint != "https://api.twilio.com/2010-04-01/Accounts/"+testAccount+"/Messages.json" {
		t.Fatalf("endpoint %s", tw.endpoint)
	}
}

func TestDeliveryError(t *testing.T) {
	tests := []struct{ in, code string }{
		{"", ""},
		{"63016", CodeTemplateRequired},
		{"63027", CodeTemplateNotFound},
		{"21211", CodeInvalidPhone},
		{"30003", CodeProviderRejected},
		{"abc", CodeProviderRejected},
	}
	for _, tc := range tests {
		if got := apperr.CodeOf(DeliveryError(tc.in)); got != tc.code {
			t.Errorf("DeliveryError(%q) code %q, want %q", tc.in, got, tc.code)
		}
	}
}
