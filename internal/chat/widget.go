package chat

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"switchboard/internal/apperr"
	"switchboard/internal/model"
)

// Bounds of the widget settings. They keep the public widget config small
// (it is fetched by every page that embeds the widget) and the texts the
// size of a line or a short paragraph.
const (
	maxGreeting     = 500 // runes
	maxLauncherText = 40
	maxStringText   = 500
	maxLanguage     = 35
)

// WidgetStringKeys are the keys of the widget's string table
// (web/widget/src/strings.ts, plus the loader's "open" and "unread"); a
// site may override exactly these. TestWidgetStringKeysMatchWidget keeps
// the two lists equal.
var WidgetStringKeys = []string{
	"title", "subtitle", "online", "close", "endChat", "endConfirm", "greeting", "prechatIntro", "name", "email",
	"question", "optional", "start", "invalidEmail", "required", "department", "anyDepartment", "waiting",
	"connecting", "queue", "wait", "waitSoon", "typing", "placeholder", "send", "attach", "emoji", "messages",
	"you", "seen", "sending", "reconnecting", "ended", "rateTitle", "rate", "comment", "submitRating", "thanks",
	"transcript", "transcriptAsk", "transcriptSend", "transcriptSent", "transcriptAlways", "transcriptFailed",
	"rateFailed", "tooLong", "fileTooLarge", "fileType", "uploadFailed", "uploading", "download", "errorOrigin",
	"errorSite", "errorGeneric", "notSent", "offlineTitle", "offlineIntro", "offlineSend", "offlineDone",
	"offlineUnavailable", "signIn", "closed", "nextOpen", "kept", "keptNoEmail", "unanswered", "leaveMessage",
	"back", "open", "unread", "botIntro", "ask", "talkToHuman", "handoffFailed",
}

var (
	widgetStringKeySet = func() map[string]bool {
		m := make(map[string]bool, len(WidgetStringKeys))
		for _, k := range WidgetStringKeys {
			m[k] = true
		}
		return m
	}()
	colorRE    = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
	languageRE = regexp.MustCompile(`^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$`)
)

// checkText refuses text that is too long, not UTF-8, or holds control
// characters (newlines only where multiline).
func checkText(code, field, v string, max int, multiline bool) error {
	if !utf8.ValidString(v) {
		return apperr.Invalid("invalid_"+code, field+" is not valid UTF-8")
	}
	if utf8.RuneCountInString(v) > max {
		return apperr.Invalid(code+"_too_long", fmt.Sprintf("%s is at most %d characters", field, max))
	}
	for _, r := range v {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t')) {
			return apperr.Invalid("invalid_"+code, field+" contains control characters")
		}
	}
	return nil
}

func oneOf(v string, allowed ...string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}

// validateWidget checks and normalises a site's widget settings. Every
// refusal is a typed error naming the field.
func validateWidget(w model.WidgetSettings) (model.WidgetSettings, error) {
	w.Color = strings.TrimSpace(w.Color)
	if w.Color != "" && !colorRE.MatchString(w.Color) {
		return w, apperr.Invalid("invalid_color", "color is a hex colour like #2d5bd7")
	}
	w.Color = strings.ToLower(w.Color)
	if !oneOf(w.Position, "", "left", "right") {
		return w, apperr.Invalid("invalid_position", "position is left or right")
	}
	w.Greeting = strings.TrimSpace(w.Greeting)
	if err := checkText("greeting", "greeting", w.Greeting, maxGreeting, true); err != nil {
		return w, err
	}
	w.LauncherText = strings.TrimSpace(w.LauncherText)
	if err := checkText("launcher_text", "launcher_text", w.LauncherText, maxLauncherText, false); err != nil {
		return w, err
	}
	p := w.Prechat
	if !oneOf(p.Name, "", "hidden", "optional", "required") || !oneOf(p.Email, "", "hidden", "optional", "required") ||
		!oneOf(p.Department, "", "on", "off") || !oneOf(p.Question, "", "off", "on", "required") {
		return w, apperr.Invalid("invalid_prechat", "prechat name and email are hidden, optional or required; department on or off; question off, on or required")
	}
	if len(w.Strings) > 0 {
		out := make(map[string]string, len(w.Strings))
		for k, v := range w.Strings {
			if !widgetStringKeySet[k] {
				return w, apperr.Invalid("unknown_string_key", fmt.Sprintf("%q is not a widget string (see docs/widget.md)", clipKey(k)))
			}
			if err := checkText("string", "strings."+k, v, maxStringText, true); err != nil {
				return w, err
			}
			if v = strings.TrimSpace(v); v != "" { // empty: the widget's own text
				out[k] = v
			}
		}
		w.Strings = out
	}
	if len(w.Strings) == 0 {
		w.Strings = nil
	}
	if w.Language != "" && (len(w.Language) > maxLanguage || !languageRE.MatchString(w.Language)) {
		return w, apperr.Invalid("invalid_language", "language is a BCP 47 tag like en-GB")
	}
	if !oneOf(w.Dir, "", "ltr", "rtl") {
		return w, apperr.Invalid("invalid_dir", "dir is ltr or rtl")
	}
	return w, nil
}

func clipKey(k string) string {
	if len(k) > 40 {
		k = k[:40]
	}
	return strings.ToValidUTF8(k, "?")
}

// WidgetConfig is what the loader needs before a visitor has a session:
// the site's look and texts (GET /api/v1/visitor/widget/{key}, public and
// cacheable).
type WidgetConfig struct {
	Key        string           `json:"key"`
	WidgetMode model.WidgetMode `json:"widget_mode"`
	model.WidgetSettings
}

// PublicWidgetConfig returns a site's widget settings by site key, for a
// page on one of the site's allowed origins (origin empty: a same-origin
// or non-browser request; the settings are public anyway).
func (s *Service) PublicWidgetConfig(ctx context.Context, siteKey, origin string) (WidgetConfig, error) {
	if !ValidSiteKey(siteKey) {
		return WidgetConfig{}, apperr.Invalid("invalid_site_key", "site key is malformed")
	}
	site, err := s.st.GetSiteByKey(ctx, siteKey)
	if err != nil {
		return WidgetConfig{}, err
	}
	if origin != "" {
		if err := CheckOrigin(site, origin); err != nil {
			return WidgetConfig{}, err
		}
	}
	return WidgetConfig{Key: site.Key, WidgetMode: site.WidgetMode, WidgetSettings: site.Widget}, nil
}
