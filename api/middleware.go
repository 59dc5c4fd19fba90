package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/silo-datasets/silo"
)

type ctxKey int

// infoKey is the one context value the middleware adds: the request's
// requestInfo, which later layers fill in (the caller, the route) rather
// than each copying the request to add a value of its own.
const infoKey ctxKey = 0

// requestInfo collects what the request's log line reports, and who the
// caller is once authenticate knows.
type requestInfo struct {
	caller silo.Caller // its Key is nil until authenticate knows
	id     string
	org    string
	client string
	route  string
	status int
	in     int64
	out    int64
	conn   context.Context // the request's context as net/http made it: ends when the client goes away
	start  time.Time       // when logRequests began the request
}

// finalStatus is the status the request's log line and metrics report:
// 200 when the handler wrote nothing, 499 when the client went away before
// any answer (its connection's context ended; a deadline of the request's
// own is no client going away).
func (i *requestInfo) finalStatus() int {
	st := i.status
	if st == 0 {
		st = http.StatusOK
	}
	if st < 400 && i.out == 0 && i.conn != nil && i.conn.Err() != nil {
		st = 499
	}
	return st
}

// routeOr is the route pattern that served the request, or, for requests
// no route matched, a fixed name (never the raw path: it would let clients
// blow up log and metric cardinality).
func (i *requestInfo) routeOr(r *http.Request) string {
	if i.route != "" {
		return i.route
	}
	return "unmatched"
}

// named records the route pattern of the handler that serves a request.
func named(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if i, _ := r.Context().Value(infoKey).(*requestInfo); i != nil {
			i.route = r.Pattern
		}
		h(w, r)
	}
}

// RequestInfo is what a request's log line reports, for wrappers such as
// the metrics middleware.
type RequestInfo struct {
	Route  string
	Org    string
	Status int
	In     int64
	Out    int64
	Start  time.Time // when the request's handling began; its log line's duration counts from it
}

// InfoOf returns what is known of a request so far (after next.ServeHTTP
// returns, all of it, and Status as the log line reports it).
func InfoOf(r *http.Request) RequestInfo {
	i, _ := r.Context().Value(infoKey).(*requestInfo)
	if i == nil {
		return RequestInfo{}
	}
	return RequestInfo{Route: i.routeOr(r), Org: i.org, Status: i.finalStatus(), In: i.in, Out: i.out, Start: i.start}
}

func callerOf(r *http.Request) *silo.Caller {
	if i, _ := r.Context().Value(infoKey).(*requestInfo); i != nil && i.caller.Key != nil {
		return &i.caller
	}
	return nil
}

// bearer returns the key of an "Authorization: Bearer KEY" header; the
// scheme is matched case-insensitively (an old Python SDK sent "BEARER").
func bearer(h string) string {
	scheme, key, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return ""
	}
	return strings.TrimSpace(key)
}

// authenticate resolves the caller of every API request before routing.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := headerValue(r.Header, "Authorization")
		if h == "" {
			writeError(w, r, silo.Errorf(silo.EUNAUTHORIZED, "no api key supplied: send Authorization: Bearer <key>"))
			return
		}
		secret := bearer(h)
		if secret == "" {
			writeError(w, r, silo.Errorf(silo.EUNAUTHORIZED, "invalid api token: the Authorization header must be Bearer <key>"))
			return
		}
		key, org, err := s.Service.AuthenticateAPI(r.Context(), secret)
		if err != nil {
			writeError(w, r, err)
			return
		}
		i, _ := r.Context().Value(infoKey).(*requestInfo)
		if i == nil { // logRequests puts it there; only a mis-built chain lacks it
			writeError(w, r, errors.New("api: authenticate runs outside logRequests"))
			return
		}
		i.org = key.OrgID
		i.caller = silo.Caller{Key: key, ClientName: i.client, Org: org}
		next.ServeHTTP(w, r)
	})
}

// clientName is X-Client-Name, or the older SDKs' Request-Source, bounded.
func clientName(r *http.Request) string {
	n := headerValue(r.Header, "X-Client-Name")
	if n == "" {
		n = headerValue(r.Header, "Request-Source")
	}
	return truncate(n, 100)
}

// headerValue is h.Get(name) for a name already in canonical form: what
// every request reads skips Get's canonicalisation of the name.
func headerValue(h http.Header, name string) string {
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// statusWriter records the status and size of a response, and gives each
// write of an answer that is not a file its write timeout.
type statusWriter struct {
	http.ResponseWriter
	info *requestInfo
	wd   writeDeadliner // nil: no write timeout
	wt   time.Duration
}

func (w *statusWriter) WriteHeader(status int) {
	if w.info.status == 0 {
		w.info.status = status
	}
	w.renew()
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.info.status == 0 {
		w.info.status = http.StatusOK
	}
	w.renew()
	n, err := w.ResponseWriter.Write(p)
	w.info.out += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writeDeadliner is how net/http's own response writers (HTTP/1 and
// HTTP/2) set their connection's write deadline; asked for directly rather
// than through a ResponseController, which every request would allocate.
type writeDeadliner interface{ SetWriteDeadline(time.Time) error }

// renew gives the write about to happen WriteTimeout to complete. A client
// that reads slowly is cut off once one write (at most the list's 32 KiB
// buffer) takes longer than that; while it reads, the answer goes on.
func (w *statusWriter) renew() {
	if w.wd != nil {
		w.wd.SetWriteDeadline(time.Now().Add(w.wt))
	}
}

// timeWrites sets the connection's write deadline for the request that
// arrived at start: WriteTimeout from now (renewed by every write) for an
// answer that is not a file, none for a download or a backup, whose
// writes may wait on a reader as long as it reads. Every request sets it,
// since the deadline stays on the connection after the request that set it.
func (s *Server) timeWrites(w http.ResponseWriter, r *http.Request, sw *statusWriter, start time.Time) {
	wd, ok := w.(writeDeadliner)
	if !ok {
		return // a test's recorder
	}
	d := s.writeTimeout()
	if d <= 0 || isFile(r) {
		wd.SetWriteDeadline(time.Time{})
		return
	}
	sw.wd, sw.wt = wd, d
	wd.SetWriteDeadline(start.Add(d))
}

// countingBody counts the request bytes read.
type countingBody struct {
	rc   io.ReadCloser
	info *requestInfo
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.info.in += int64(n)
	return n, err
}

func (b *countingBody) Close() error { return b.rc.Close() }

// infoContext is context.WithValue(parent, infoKey, info), made as part of
// served instead of on its own.
type infoContext struct {
	context.Context
	info *requestInfo
}

func (c *infoContext) Value(k any) any {
	if k == any(infoKey) {
		return c.info
	}
	return c.Context.Value(k)
}

// served is what logRequests adds to a request (its info, its deadline,
// the context that carries them, the wrappers that count the body and the
// answer, the X-Request-Id header's value) in one allocation instead of
// seven, and one copy of the request instead of two: every request pays
// them.
type served struct {
	info  requestInfo
	dl    lazyDeadline // when deadlineOf gives the request one
	ctx   infoContext
	body  countingBody
	sw    statusWriter
	je    jsonErrors
	reqID [1]string
}

// logRequests gives every request an id (X-Request-Id), turns net/http's
// plain-text errors into JSON, and logs one line per request. Keys are
// never logged: only the organisation they belong to.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		v := &served{info: requestInfo{id: newRequestID(), client: clientName(r), start: start}}
		info := &v.info
		v.reqID[0] = info.id
		w.Header()["X-Request-Id"] = v.reqID[:] // Header().Set, without its slice
		ctx := r.Context()
		info.conn = ctx
		if at, ok := s.deadlineOf(r, start); ok {
			v.dl = lazyDeadline{parent: ctx, at: at}
			ctx = &v.dl
			defer v.dl.stop() // after the log line's defer below
		}
		v.ctx = infoContext{Context: ctx, info: info}
		r = r.WithContext(&v.ctx)
		v.body = countingBody{rc: r.Body, info: info}
		r.Body = &v.body
		v.je = jsonErrors{ResponseWriter: w}
		v.sw = statusWriter{ResponseWriter: &v.je, info: info}
		sw := &v.sw
		s.timeWrites(w, r, sw, start)
		defer func() {
			info.status = info.finalStatus()
			level := slog.LevelInfo
			if info.status >= 500 && info.status != 503 {
				level = slog.LevelError
			}
			end := time.Now()
			s.logRequest(r.Context(), requestLine{at: end, level: level, id: info.id, method: r.Method,
				route: info.routeOr(r), status: info.status, in: info.in, out: info.out, duration: end.Sub(start),
				org: info.org, client: info.client})
		}()
		next.ServeHTTP(sw, r)
	})
}
