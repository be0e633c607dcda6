package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

// The console is a single-page app built by Vite (web/console, `npm run
// build`) with fixed file names; its build is committed so that `go build`
// needs no Node.
//
//go:embed all:console/dist
var consoleDist embed.FS

// consoleTypes pins the types of the build's files (the system's MIME table
// may say otherwise).
var consoleTypes = map[string]string{
	".js":    "text/javascript; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".woff2": "font/woff2",
}

type consoleFile struct {
	body        []byte
	contentType string
	etag        string
}

// loadConsole reads the embedded build once.
func loadConsole() (index consoleFile, assets map[string]consoleFile) {
	assets = map[string]consoleFile{}
	sub, err := fs.Sub(consoleDist, "console/dist")
	if err != nil {
		panic(err)
	}
	_ = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct := consoleTypes[path.Ext(p)]
		if ct == "" {
			ct = mime.TypeByExtension(path.Ext(p))
		}
		if ct == "" {
			ct = "application/octet-stream"
		}
		f := consoleFile{body: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		if p == "index.html" {
			f.contentType = "text/html; charset=utf-8"
			index = f
		} else {
			assets[p] = f
		}
		return nil
	})
	return index, assets
}

// registerConsole mounts the agent console under /console/: files of the
// build by their path, and index.html for every other path (client routes).
func registerConsole(mux *http.ServeMux) {
	index, assets := loadConsole()
	mux.HandleFunc("GET /console/{path...}", func(w http.ResponseWriter, r *http.Request) {
		p := r.PathValue("path")
		f, ok := assets[p]
		if !ok {
			if strings.HasPrefix(p, "assets/") || path.Ext(p) != "" {
				http.NotFound(w, r)
				return
			}
			f = index
		}
		h := w.Header()
		h.Set("Content-Security-Policy", consoleCSP)
		h.Set("Content-Type", f.contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", f.etag)
		if f.contentType == index.contentType {
			h.Set("X-Frame-Options", "DENY")
		}
		if match := r.Header.Get("If-None-Match"); match != "" && match == f.etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = w.Write(f.body)
	})
}
