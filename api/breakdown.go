package api

import (
	"net/http"
	"time"
)

// handleUsageBreakdown answers the organisation's usage by dataset type and
// by client name (a silo extension, for the dashboard and `silo usage`).
func (s *Server) handleUsageBreakdown(w http.ResponseWriter, r *http.Request) {
	b, err := s.Service.UsageBreakdown(r.Context(), callerOf(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"by_type": b.ByType, "by_client": b.ByClient, "as_of": formatTime(time.Now())})
}
