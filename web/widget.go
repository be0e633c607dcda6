package web

import "net/http"

// registerWidget mounts the widget loader at /widget.js. Until the widget
// build lands, a placeholder that keeps queued calls harmless.
func registerWidget(mux *http.ServeMux) {
	mux.HandleFunc("GET /widget.js", serveFile("widget.js", "text/javascript; charset=utf-8", ""))
}
