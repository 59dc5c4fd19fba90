// Package web is silo's dashboard: plain HTML, CSS and JavaScript modules
// embedded in the binary, with no build step, served by the same server as
// the API. The page talks to the public API with the key the user types in;
// the key stays in the tab's sessionStorage and never goes into a URL.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed static
var static embed.FS

// csp keeps the page to its own scripts and styles: no inline script, no
// third-party origin, no framing. img-src data: is for the favicon.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"

// Routes returns the dashboard's routes for api.Server.Extra: the page at
// exactly / and its assets under /ui/, so that every other path still gets
// the API's JSON 404.
func Routes() map[string]http.Handler {
	sub, _ := fs.Sub(static, "static")
	files := http.FileServerFS(sub)
	return map[string]http.Handler{
		"GET /{$}": secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, sub, "index.html")
		})),
		"GET /ui/": secure(http.StripPrefix("/ui/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Assets change with the binary; revalidating is cheap (embed.FS
			// files have no modification time, so ServeContent uses none).
			w.Header().Set("Cache-Control", "no-cache")
			if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
				http.NotFound(w, r) // no directory listings
				return
			}
			files.ServeHTTP(w, r)
		}))),
	}
}

func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}
