package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"

	"github.com/silo-datasets/silo"
)

// Idempotency-Key on create (a silo extension; CONTRACT.md): the SDKs retry
// a create on 429 and 5xx, and a client that lost an answer wants to retry
// too. With the header, a retry gets the first answer, and nothing is stored
// twice.

// idempotent claims the request's Idempotency-Key, if it has one. It
// answers a replay, a conflict or a mismatch itself and returns ok=false;
// otherwise it returns the writer to answer through and a finish to defer,
// which records the answer. A request without the header passes through.
func (s *Server) idempotent(w http.ResponseWriter, r *http.Request, req *silo.UploadRequest) (http.ResponseWriter, func(), bool) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		return w, func() {}, true
	}
	cl, err := s.Service.ClaimIdempotency(r.Context(), callerOf(r), key, fingerprint(r.URL.Query(), r.ContentLength))
	if err != nil {
		if silo.ErrorCode(err) == silo.ECONFLICT {
			w.Header().Set("Retry-After", "1")
		}
		writeError(w, r, err)
		return w, nil, false
	}
	if rec := cl.Replay; rec != nil {
		w.Header().Set("Idempotent-Replayed", "true")
		if rec.Status == http.StatusOK {
			writeJSON(w, http.StatusOK, map[string]string{"id": rec.DatasetID})
		} else {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(rec.Status)
			w.Write(rec.Body)
		}
		return w, nil, false
	}
	req.IdempotencyKey, req.IdempotencyClaim = key, cl.Claim
	rw := &answerRecorder{ResponseWriter: w}
	return rw, func() {
		status := rw.status
		if status == 0 || r.Context().Err() != nil {
			status = 499 // the client went away: its retry must run anew
		}
		s.Service.FinishIdempotency(r.Context(), cl, status, rw.body.Bytes())
	}, true
}

// fingerprint names a create's parameters: its query (url.Values.Encode
// sorts it) and its Content-Length. The files' checksums are not known
// before they are read, and the multipart boundary changes between
// retries of some clients, but its length does not.
func fingerprint(q url.Values, contentLength int64) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%d", q.Encode(), contentLength)
	return hex.EncodeToString(h.Sum(nil))
}

// maxRecordedBody bounds the error body kept for a replay; create answers
// are small JSON.
const maxRecordedBody = 16 << 10

// answerRecorder passes an answer through and keeps its status and body.
type answerRecorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (a *answerRecorder) WriteHeader(status int) {
	if a.status == 0 {
		a.status = status
	}
	a.ResponseWriter.WriteHeader(status)
}

func (a *answerRecorder) Write(p []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	if a.body.Len()+len(p) <= maxRecordedBody {
		a.body.Write(p)
	}
	return a.ResponseWriter.Write(p)
}

func (a *answerRecorder) Unwrap() http.ResponseWriter { return a.ResponseWriter }
