package api

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/silo-datasets/silo"
)

// requireMetricsKey guards /metrics on the API's listener: its series name
// every organisation and its usage, so only an admin key or a key of role
// metrics (a scraper's: it can read nothing else) may read them. Without a
// key: 401, and nothing is shown.
func (s *Server) requireMetricsKey(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if i, _ := r.Context().Value(infoKey).(*requestInfo); i != nil {
			i.route = "GET /metrics"
		}
		secret := bearer(r.Header.Get("Authorization"))
		if secret == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="silo metrics"`)
			writeError(w, r, silo.Errorf(silo.EUNAUTHORIZED, "/metrics needs an API key: send Authorization: Bearer <admin or metrics key>"))
			return
		}
		if err := s.Service.AuthorizeMetrics(r.Context(), secret); err != nil {
			writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// metricsListener serves /metrics without a key on its own address
// (--metrics-addr), for a scraper on a private network.
type metricsListener struct {
	ln  net.Listener
	srv *http.Server
}

func (s *Server) openMetrics() error {
	if s.MetricsAddr == "" || s.Metrics == nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.MetricsAddr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.Metrics)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.logger().Handler(), slog.LevelDebug),
	}
	s.metrics = &metricsListener{ln: ln, srv: srv}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger().Error("metrics listener stopped", "err", err)
		}
	}()
	return nil
}

// MetricsURL is the base URL of the separate metrics listener, "" without
// one.
func (s *Server) MetricsURL() string {
	if s.metrics == nil {
		return ""
	}
	return "http://" + s.metrics.ln.Addr().String()
}

func (s *Server) closeMetrics() {
	if s.metrics == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.metrics.srv.Shutdown(ctx); err != nil {
		s.metrics.srv.Close()
	}
}
