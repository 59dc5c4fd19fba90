package api

import (
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/silo-datasets/silo"
)

// Bad bytes at the edge: every name, id, filter, parameter and recorded
// header must be UTF-8 text without NUL bytes. PostgreSQL refuses anything
// else (SQLSTATE 22021, 22P05) where SQLite stores it, so it is refused
// here, the same on every store, before a create's body is read: 400, or
// 404 for a path (an id that cannot exist is an id that does not).

// textHeaders are the request headers silo records, in canonical form:
// they are read from the header map directly (r.Header[h]), without
// Header.Values' canonicalisation of the name on every request
// (TestTextHeadersCanonical).
var textHeaders = []string{"X-Client-Name", "Request-Source", "Idempotency-Key"}

// validText answers 400 or 404 to a request whose path, query or recorded
// headers are not valid UTF-8 text. It runs after authentication and the
// route's role check (needs): bad bytes are the request's input, looked at
// after the role as the rest of it is.
func (s *Server) validText(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := checkText(r); err != nil {
			if isUpload(r) {
				w.Header().Set("Connection", "close") // the body is not read
			}
			writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// checkQuery checks a query's names and values; an empty query (most
// requests) builds no map.
func checkQuery(raw string) error {
	if raw == "" {
		return nil
	}
	q, _ := url.ParseQuery(raw) // what the handlers will see: r.URL.Query drops malformed pairs the same way
	for name, values := range q {
		if !isText(name) {
			return silo.Errorf(silo.EINVALID, "A query parameter name is not valid UTF-8 text or holds a NUL byte.")
		}
		for _, v := range values {
			if !isText(v) {
				return silo.Errorf(silo.EINVALID, "The %s parameter is not valid UTF-8 text or holds a NUL byte.", name)
			}
		}
	}
	return nil
}

func checkText(r *http.Request) error {
	if !isText(r.URL.Path) {
		return silo.Errorf(silo.ENOTFOUND, "not found: the path is not valid UTF-8 text")
	}
	if err := checkQuery(r.URL.RawQuery); err != nil {
		return err
	}
	for _, h := range textHeaders {
		for _, v := range r.Header[h] {
			if !isText(v) {
				return silo.Errorf(silo.EINVALID, "The %s header is not valid UTF-8 text or holds a NUL byte.", h)
			}
		}
	}
	return nil
}

// isText reports whether s is valid UTF-8 without NUL bytes.
func isText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// truncate cuts s to at most n bytes on a rune boundary, so that a long
// name in a multi-byte script stays valid UTF-8.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
