// Package web serves the browser-facing parts, built from TypeScript and
// committed so `go build` needs no Node: the agent console under /console/
// (console.go, web/console), the widget loader at /widget.js with its lazily
// loaded chat UI (widget.go, web/widget), and a demo page that embeds the
// widget with one script tag.
package web

import (
	"embed"
	"net/http"
)

//go:embed static
var static embed.FS

// consoleCSP is strict: no inline script, nothing from elsewhere.
const consoleCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

func serveFile(name, contentType, csp string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := static.ReadFile("static/" + name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", contentType)
		if csp != "" {
			w.Header().Set("Content-Security-Policy", csp)
		}
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(b)
	}
}

// Register mounts the static routes on mux.
func Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/", http.StatusFound)
	})
	mux.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/", http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /demo", serveFile("demo.html", "text/html; charset=utf-8", ""))
	registerConsole(mux) // console.go
	registerWidget(mux)  // widget.go
}
