package api

import "net/http"

// handleMe answers who the key is: its id, name and role, and its
// organisation (a silo extension, for the dashboard's header).
func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) {
	k, org, err := s.Service.Me(r.Context(), callerOf(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"key": keyJSON(k), "org": orgJSON(org)})
}
