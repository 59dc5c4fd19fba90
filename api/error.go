package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/silo-datasets/silo"
)

// statusOf is the one table from silo's error codes to HTTP statuses. Cohere
// answers an over-quota create with 400, so EQUOTA is 400 too.
var statusOf = map[string]int{
	silo.EINVALID:        http.StatusBadRequest,
	silo.EQUOTA:          http.StatusBadRequest,
	silo.EUNAUTHORIZED:   http.StatusUnauthorized,
	silo.EFORBIDDEN:      http.StatusForbidden,
	silo.ENOTFOUND:       http.StatusNotFound,
	silo.ECONFLICT:       http.StatusConflict,
	silo.EUNPROCESSABLE:  http.StatusUnprocessableEntity,
	silo.ETOOMANY:        http.StatusTooManyRequests,
	silo.EREVOKED:        498, // Cohere's "deny-listed token"; the SDKs' InvalidTokenError
	silo.ECANCELED:       499, // client closed the request (nginx's convention, and Cohere's)
	silo.EINTERNAL:       http.StatusInternalServerError,
	silo.ENOTIMPLEMENTED: http.StatusNotImplemented,
	silo.EUNAVAILABLE:    http.StatusServiceUnavailable,
	silo.ETIMEOUT:        http.StatusGatewayTimeout,
	silo.ETOOLARGE:       http.StatusRequestEntityTooLarge,
	silo.EMEDIATYPE:      http.StatusUnsupportedMediaType,
	silo.ELOCKED:         http.StatusLocked,
	silo.ECHECKSUM:       460, // tus' "Checksum Mismatch"
	silo.EPRECONDITION:   http.StatusPreconditionFailed,
}

// StatusOf returns the HTTP status of an error.
func StatusOf(err error) int {
	if st, ok := statusOf[silo.ErrorCode(err)]; ok {
		return st
	}
	return http.StatusInternalServerError
}

// retryAfterOf is the Retry-After of a 429 or 503 that set none: a
// dependency that failed (a database restarting, a disk being freed) takes
// seconds to come back, and an instant retry would only add load, so those
// clients wait longer than a node's momentary overload.
func retryAfterOf(err error) string {
	if dependencyFault(err) {
		return "5"
	}
	return "1"
}

// dependencyFault reports whether err came from a dependency (a store
// wrapped its cause, or a raw disk error) rather than from silo itself.
func dependencyFault(err error) bool {
	var e *silo.Error
	return !errors.As(err, &e) || e.Err != nil
}

// errorBody is every error's body: Cohere's shape, {"message", "id"}
// (cohere-openapi.yaml's error responses). id is the request's id, the same
// as its X-Request-Id header, so that a user who pastes an error body in a
// report gives the operator the log line to look for.
type errorBody struct {
	Message string `json:"message"`
	ID      string `json:"id,omitempty"`
}

// newErrorBody is the one place an error body is made.
func newErrorBody(w http.ResponseWriter, msg string) errorBody {
	return errorBody{Message: msg, ID: w.Header().Get("X-Request-Id")}
}

// writeError answers with err's status and message. Internal errors are
// logged with their text and answered with a generic message.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := StatusOf(err)
	if status == http.StatusInternalServerError {
		slog.ErrorContext(r.Context(), "internal error", "err", err, "path", r.URL.Path, "request_id", w.Header().Get("X-Request-Id"))
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		if w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", retryAfterOf(err))
		}
	}
	if silo.IsTransient(err) && dependencyFault(err) {
		// The cause (which server, which file) is for the operator's logs.
		slog.WarnContext(r.Context(), "dependency fault", "code", silo.ErrorCode(err), "err", err, "path", r.URL.Path, "request_id", w.Header().Get("X-Request-Id"))
	}
	writeJSON(w, status, newErrorBody(w, silo.ErrorMessage(err)))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	e := jsonEncoders.Get().(*jsonEncoder)
	defer e.put()
	e.buf.Reset()
	if err := e.enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		e.buf.Reset()
		b, _ := json.Marshal(newErrorBody(w, "internal server error"))
		e.buf.Write(append(b, '\n'))
	}
	writeJSONBody(w, status, e.buf.Bytes())
}

// writeJSONAppended is writeJSON for an answer that encodes itself:
// appendJSON appends what json.Marshal would make of it.
func writeJSONAppended(w http.ResponseWriter, status int, appendJSON func([]byte) []byte) {
	e := jsonEncoders.Get().(*jsonEncoder)
	defer e.put()
	e.buf.Reset()
	e.buf.Write(append(appendJSON(e.buf.AvailableBuffer()), '\n')) // the newline Encode adds
	writeJSONBody(w, status, e.buf.Bytes())
}

// jsonContentType is the Content-Type header of JSON answers, set as one
// shared value: Header().Set would make the same slice for every answer.
// net/http and silo replace header values, never write into them.
var jsonContentType = []string{"application/json"}

func writeJSONBody(w http.ResponseWriter, status int, body []byte) {
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	w.Write(body)
}

// appendJSONString appends s as a JSON string, as encoding/json (with
// HTML escaping off) writes it; what needs no escaping, the common case,
// is appended as it is.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			e := jsonEncoders.Get().(*jsonEncoder)
			defer e.put()
			e.buf.Reset()
			e.enc.Encode(s)
			return append(b, bytes.TrimSuffix(e.buf.Bytes(), []byte("\n"))...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// jsonEncoder is an encoder with its buffer, pooled: most answers are
// small, and a new buffer grew twice and an encoder was made for each.
type jsonEncoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

// put returns e to the pool, unless its buffer grew past what most
// answers need (a long list's).
func (e *jsonEncoder) put() {
	if e.buf.Cap() <= 64<<10 {
		jsonEncoders.Put(e)
	}
}

var jsonEncoders = sync.Pool{New: func() any {
	e := &jsonEncoder{}
	e.enc = json.NewEncoder(&e.buf)
	e.enc.SetEscapeHTML(false) // messages quote <key> and the like; keep them readable
	return e
}}

// jsonErrors makes every error that net/http itself writes inside the
// handler chain (the mux's 404 and 405, MaxBytesReader, ServeContent's 416)
// a JSON {"message", "id"} body: http.Error always sets a text/plain content type
// first, which is how they are told from silo's own answers.
type jsonErrors struct {
	http.ResponseWriter
	swallow bool
}

func (j *jsonErrors) WriteHeader(status int) {
	h := j.Header()
	if status >= 400 && strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		h.Del("X-Content-Type-Options")
		h.Del("Content-Length")
		h.Set("Content-Type", "application/json")
		j.ResponseWriter.WriteHeader(status)
		b, _ := json.Marshal(newErrorBody(j.ResponseWriter, plainMessage(status)))
		j.ResponseWriter.Write(append(b, '\n'))
		j.swallow = true
		return
	}
	j.ResponseWriter.WriteHeader(status)
}

func (j *jsonErrors) Write(p []byte) (int, error) {
	if j.swallow {
		return len(p), nil
	}
	return j.ResponseWriter.Write(p)
}

func (j *jsonErrors) Unwrap() http.ResponseWriter { return j.ResponseWriter }

func plainMessage(status int) string {
	switch status {
	case http.StatusNotFound:
		return "no such route"
	case http.StatusMethodNotAllowed:
		return "method not allowed on this route"
	case http.StatusRequestedRangeNotSatisfiable:
		return "the requested range is not satisfiable"
	}
	return strings.ToLower(http.StatusText(status))
}
