package web

import "net/http"

// registerConsole mounts the agent console under /console/. Until the
// console build lands, a page that says what is coming.
func registerConsole(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/", serveFile("console.html", "text/html; charset=utf-8", consoleCSP))
}
