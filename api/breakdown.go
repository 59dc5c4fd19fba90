package api

import (
	"net/http"
	"time"
)

// handleUsageBreakdown answers the organisation's usage by dataset type, by
// client name and by creating key (a silo extension, for the dashboard and
// `silo usage`).
func (s *Server) handleUsageBreakdown(w http.ResponseWriter, r *http.Request) {
	b, err := s.Service.UsageBreakdown(r.Context(), callerOf(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"by_type": b.ByType, "by_client": b.ByClient, "by_key": b.ByKey, "as_of": formatTime(time.Now())})
}
