package api

import (
	"net/http"

	"github.com/silo-datasets/silo"
)

// needs registers a route's handler behind the role it needs: the role is
// checked (Service.Authorize) before anything of the request is looked at
// (its text, validText; its parameters; its body), so a reader sending an
// admin route a malformed body, or bad bytes in a parameter, gets 403, not
// 400 or 422 (the contract's order: 401/498, then 403, then the rest). The
// service checks the role again inside each operation.
func (s *Server) needs(min silo.Role, h http.HandlerFunc) http.HandlerFunc {
	checked := s.validText(h)
	return named(func(w http.ResponseWriter, r *http.Request) {
		if err := s.Service.Authorize(callerOf(r), min); err != nil {
			writeError(w, r, err)
			return
		}
		checked.ServeHTTP(w, r)
	})
}
