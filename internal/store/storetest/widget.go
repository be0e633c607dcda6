package storetest

import (
	"testing"

	"switchboard/internal/model"
	"switchboard/internal/store"
)

// testSiteWidget: a site's widget settings and assistant answers (JSON
// columns of migration 00008) round-trip through create and update, and a
// site without them reads back their zero values.
func testSiteWidget(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	site := model.Site{Key: "w-one", Name: "Widget", WidgetMode: model.ModeHybrid,
		Widget: model.WidgetSettings{Color: "#0a7d38", Position: "left", Greeting: "Hi — ask us anything", LauncherText: "Help",
			Prechat:  model.PrechatSettings{Name: "required", Email: "optional", Department: "off", Question: "on"},
			Strings:  map[string]string{"title": "Schreiben Sie uns", "send": "Senden"},
			Language: "de-DE", Dir: "rtl"},
		Bot: model.BotSettings{Name: "Robo", Greeting: "Hello!", Fallback: "Ask a human",
			Answers: []model.BotAnswer{{Question: "What are your opening hours?", Keywords: []string{"hours", "open"}, Answer: "9 to 5"},
				{Question: "Shipping", Answer: "Two days"}}},
		AllowedOrigins: []string{}}
	plain := model.Site{Key: "w-two", Name: "Plain", WidgetMode: model.ModeLive, AllowedOrigins: []string{}}
	inTx(t, s, func(tx store.Tx) error {
		noErr(t, "CreateSite", tx.CreateSite(ctx, &site))
		noErr(t, "CreateSite plain", tx.CreateSite(ctx, &plain))
		return nil
	})
	eq(t, "GetSite", must[model.Site](t, "GetSite")(s.GetSite(ctx, site.ID)), site)
	eq(t, "GetSiteByKey", must[model.Site](t, "GetSiteByKey")(s.GetSiteByKey(ctx, "w-one")), site)
	eq(t, "GetSite without settings", must[model.Site](t, "GetSite")(s.GetSite(ctx, plain.ID)), plain)

	upd := site
	upd.Widget = model.WidgetSettings{Color: "#123abc", Strings: map[string]string{"greeting": "שלום"}}
	upd.Bot = model.BotSettings{}
	inTx(t, s, func(tx store.Tx) error { return tx.UpdateSite(ctx, upd) })
	eq(t, "GetSite after update", must[model.Site](t, "GetSite")(s.GetSite(ctx, site.ID)), upd)
	eq(t, "other site untouched", must[model.Site](t, "GetSite")(s.GetSite(ctx, plain.ID)), plain)
}
