package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
)

// The visitor widget's build (web/widget, `npm run build`), committed in
// web/widget/dist and embedded here:
//   - widget.js, the loader a website embeds with one script tag;
//   - ui.js, the chat UI the loader fetches when the panel is first opened.
//
//go:embed widget/dist/widget.js widget/dist/ui.js
var widgetDist embed.FS

// asset is one embedded file, ready to serve: identity and gzip bodies.
type asset struct {
	body, gz []byte
	etag     string
}

func newAsset(b []byte) asset {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(b)
	_ = zw.Close()
	sum := sha256.Sum256(b)
	return asset{body: b, gz: buf.Bytes(), etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// widgetAssets holds the loader and the UI, and the UI's version: a digest of
// ui.js that the server writes into the loader, so that the UI can be cached
// forever under /widget/{version}/ui.js while the loader itself is cached
// only briefly (a new release reaches every page within loaderMaxAge).
type widgetAssets struct {
	loader, ui asset
	version    string
}

const (
	loaderMaxAge  = 5 * time.Minute
	uiVersionHole = "__SB_UI_VERSION__"
)

func loadWidget() (widgetAssets, error) {
	ui, err := widgetDist.ReadFile("widget/dist/ui.js")
	if err != nil {
		return widgetAssets{}, err
	}
	loader, err := widgetDist.ReadFile("widget/dist/widget.js")
	if err != nil {
		return widgetAssets{}, err
	}
	sum := sha256.Sum256(ui)
	version := hex.EncodeToString(sum[:6])
	loader = bytes.ReplaceAll(loader, []byte(uiVersionHole), []byte(version))
	return widgetAssets{loader: newAsset(loader), ui: newAsset(ui), version: version}, nil
}

// registerWidget mounts the loader at /widget.js and the chat UI at
// /widget/{version}/ui.js. Both are public, static and meant to be loaded by
// pages of other origins: they carry Access-Control-Allow-Origin: * (so a
// page may load them with crossorigin="anonymous", e.g. for subresource
// integrity or error reporting) and Cross-Origin-Resource-Policy:
// cross-origin (so pages that require CORP/COEP can still embed them).
// Neither ever sets a cookie or reads credentials.
func registerWidget(mux *http.ServeMux) {
	w, err := loadWidget()
	if err != nil {
		// The build is embedded at compile time; this cannot happen in a binary that compiled.
		panic("web: widget build missing: " + err.Error())
	}
	mux.HandleFunc("GET /widget.js", func(rw http.ResponseWriter, r *http.Request) {
		serveAsset(rw, r, w.loader, "public, max-age=300")
	})
	mux.HandleFunc("GET /widget/{version}/ui.js", func(rw http.ResponseWriter, r *http.Request) {
		cc := "public, max-age=31536000, immutable"
		if r.PathValue("version") != w.version {
			// A loader from before a release (cached for at most
			// loaderMaxAge) asks for an old version: give it the current
			// UI, but do not let anything cache it under the old name.
			cc = "no-cache"
		}
		serveAsset(rw, r, w.ui, cc)
	})
}

func serveAsset(w http.ResponseWriter, r *http.Request, a asset, cacheControl string) {
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", cacheControl)
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Add("Vary", "Accept-Encoding")
	body := a.body
	etag := a.etag
	if acceptsGzip(r) {
		body = a.gz
		etag = strings.TrimSuffix(a.etag, `"`) + `-gz"`
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(strings.TrimSpace(params), " ", "") != "q=0" {
			return true
		}
	}
	return false
}
