package api

import (
	"net/http"
	"time"
)

// handleUsageBreakdown answers the organisation's usage by dataset type, by
// client name, by creating key and by project (a silo extension, for the
// dashboard and `silo usage`); a project key's covers its project only.
func (s *Server) handleUsageBreakdown(w http.ResponseWriter, r *http.Request) {
	b, err := s.Service.UsageBreakdown(r.Context(), callerOf(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"by_type": b.ByType, "by_client": b.ByClient, "by_key": b.ByKey, "by_project": b.ByProject, "as_of": formatTime(time.Now())})
}
