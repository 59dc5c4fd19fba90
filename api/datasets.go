package api

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/textproto"
	"strconv"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/mpart"
)

// usageJSON is the usage answer. Clients poll it, so it writes itself
// (appendJSON) rather than through encoding/json's reflection; the tags
// say what the bytes are (TestUsageJSONLikeEncoder).
type usageJSON struct {
	OrganizationUsage int64 `json:"organization_usage"`
	// silo extensions: the quota and what uploads in flight hold.
	LimitBytes    int64  `json:"limit_bytes"`
	ReservedBytes int64  `json:"reserved_bytes"`
	AsOf          string `json:"as_of"`
	// A project key's project (CONTRACT "Projects"); left out for a key
	// of the whole organisation. ProjectLimit nil: the project has no
	// quota of its own (JSON null).
	Project *projectUsageJSON `json:"-"`
}

// projectUsageJSON is what usageJSON adds for a project key.
type projectUsageJSON struct {
	ProjectID            string `json:"project_id"`
	ProjectUsage         int64  `json:"project_usage"`
	ProjectLimitBytes    *int64 `json:"project_limit_bytes"`
	ProjectReservedBytes int64  `json:"project_reserved_bytes"`
}

// appendJSON appends what json.Marshal(u) makes (with u.Project's fields
// inlined).
func (u *usageJSON) appendJSON(b []byte) []byte {
	b = append(b, `{"organization_usage":`...)
	b = strconv.AppendInt(b, u.OrganizationUsage, 10)
	b = append(b, `,"limit_bytes":`...)
	b = strconv.AppendInt(b, u.LimitBytes, 10)
	b = append(b, `,"reserved_bytes":`...)
	b = strconv.AppendInt(b, u.ReservedBytes, 10)
	b = append(b, `,"as_of":`...)
	b = appendJSONString(b, u.AsOf)
	if p := u.Project; p != nil {
		b = append(b, `,"project_id":`...)
		b = appendJSONString(b, p.ProjectID)
		b = append(b, `,"project_usage":`...)
		b = strconv.AppendInt(b, p.ProjectUsage, 10)
		b = append(b, `,"project_limit_bytes":`...)
		if p.ProjectLimitBytes == nil {
			b = append(b, "null"...)
		} else {
			b = strconv.AppendInt(b, *p.ProjectLimitBytes, 10)
		}
		b = append(b, `,"project_reserved_bytes":`...)
		b = strconv.AppendInt(b, p.ProjectReservedBytes, 10)
	}
	return append(b, '}')
}

func (s *Server) handleUsage(w http.ResponseWriter, r *http.Request) {
	org, p, err := s.Service.Usage(r.Context(), callerOf(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	u := usageJSON{
		OrganizationUsage: org.UsedBytes, LimitBytes: org.QuotaBytes, ReservedBytes: org.ReservedBytes,
		AsOf: formatTime(time.Now()),
	}
	if p != nil {
		u.Project = &projectUsageJSON{ProjectID: p.ID, ProjectUsage: p.UsedBytes, ProjectLimitBytes: p.QuotaBytes, ProjectReservedBytes: p.ReservedBytes}
	}
	writeJSONAppended(w, http.StatusOK, u.appendJSON)
}

func (s *Server) handleUsageHistory(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	// Another organisation's history needs an admin key: that answer
	// comes before the parameters'.
	if err := s.Service.AuthorizeOrgRead(callerOf(r), q.Get("org_id")); err != nil {
		writeError(w, r, err)
		return
	}
	since, err := parseTime(q, "since")
	if err != nil {
		writeError(w, r, err)
		return
	}
	limit, err := parseInt(q, "limit")
	if err != nil {
		writeError(w, r, err)
		return
	}
	if limit == nil {
		n := 1000
		limit = &n
	}
	if *limit < 1 || *limit > 10000 {
		writeError(w, r, silo.Errorf(silo.EUNPROCESSABLE, "limit must be between 1 and 10000"))
		return
	}
	from := time.Time{}
	if since != nil {
		from = *since
	}
	samples, err := s.Service.OrgUsageHistory(r.Context(), callerOf(r), q.Get("org_id"), from, *limit)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if samples == nil {
		samples = []silo.UsageSample{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"samples": samples})
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	d, err := s.Service.Dataset(r.Context(), callerOf(r), r.PathValue("id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"dataset": s.datasetJSON(d, callerOf(r).Key.ID)})
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	if err := s.Service.DeleteDataset(r.Context(), callerOf(r), r.PathValue("id")); err != nil {
		writeError(w, r, err)
		return
	}
	// An object, never an empty body: two of the SDKs fail on one.
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleList streams the list: a large organisation is never held in
// memory, as Cohere's SDKs ask for all datasets without paging.
func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	f, err := parseListQuery(r.URL.Query())
	if err != nil {
		writeError(w, r, err)
		return
	}
	c := callerOf(r)
	bw := bufio.NewWriterSize(w, 32<<10)
	enc := json.NewEncoder(bw)
	n := 0
	err = s.Service.Datasets(r.Context(), c, f, func(d *silo.Dataset) error {
		if n == 0 {
			w.Header().Set("Content-Type", "application/json")
			bw.WriteString(`{"datasets":[`)
		} else {
			bw.WriteByte(',')
		}
		n++
		return enc.Encode(s.datasetJSON(d, c.Key.ID))
	})
	switch {
	case err != nil && n == 0:
		writeError(w, r, err)
	case err != nil:
		// Half a list is already out: break the connection rather than
		// end it in valid JSON that would read as a shorter list.
		panic(http.ErrAbortHandler)
	case n == 0:
		writeJSON(w, http.StatusOK, map[string][]any{"datasets": {}})
	default:
		bw.WriteString("]}\n")
		bw.Flush()
	}
}

// handleCreate streams a multipart upload into the service: each file part
// goes to the blob store as it arrives, hashed and reserved against the
// quota on the way; nothing is buffered whole.
func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	req, err := parseCreateQuery(r.URL.Query())
	if err != nil {
		writeError(w, r, err)
		return
	}
	if r.URL.Query().Has("upload_id") {
		// The files are complete resumable uploads; the upload is its own
		// idempotency (asked again, the answer is the same dataset).
		s.createFromUploads(w, r, req)
		return
	}
	req.ContentLength = r.ContentLength
	w, finish, ok := s.idempotent(w, r, &req)
	if !ok {
		return
	}
	defer finish()
	boundary, err := multipartBoundary(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	u, err := s.Service.BeginUpload(r.Context(), callerOf(r), req)
	if err != nil {
		writeError(w, r, err)
		return
	}
	defer u.Abort()
	// The multipart reader reads the connection into large buffers and
	// hands them on (internal/mpart). Errors of the body pass through it
	// unchanged, so bodyReader still tells 499 from 400.
	body := &bodyReader{r: r.Body}
	mr := mpart.NewReader(body, boundary)
	defer mr.Close()
	first := true
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			writeError(w, r, body.classify(err, err))
			return
		}
		kind, ok := partKinds[part.FormName()]
		if !ok {
			writeError(w, r, silo.Errorf(silo.EINVALID, "You used an invalid parameter for part: %q; use file (or data) or an evaluation file (eval_data).", part.FormName()))
			return
		}
		if first {
			first = false
			if r.ContentLength > 0 {
				u.Announce(r.ContentLength - partFraming(boundary, part.Header))
			}
		}
		pr := &partReader{p: part}
		if err := u.AddFile(r.Context(), kind, part.FileName(), pr); err != nil {
			writeError(w, r, body.classify(err, pr.err))
			return
		}
	}
	d, err := u.Commit(r.Context())
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": d.ID})
}

// partKinds are the multipart part names a create accepts: the SDKs send
// data and eval_data; Cohere's curl sample and some clients send file.
var partKinds = map[string]silo.PartKind{
	"data":      silo.PartTrain,
	"file":      silo.PartTrain,
	"eval_data": silo.PartEval,
}

// partFraming is the multipart framing around a body of one file part: its
// opening boundary, its header as sent, the closing boundary. The
// Content-Length less it is the file's size when the file is the only part
// (what a quota refusal names); a well-formed client writes each header as
// "Key: value", so the sum is exact for those.
func partFraming(boundary string, h textproto.MIMEHeader) int64 {
	n := len("--"+boundary+"\r\n") + len("\r\n") + len("\r\n--"+boundary+"--\r\n")
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(": ") + len(v) + len("\r\n")
		}
	}
	return int64(n)
}

func multipartBoundary(r *http.Request) (string, error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return "", silo.Errorf(silo.EINVALID, "The request body must be multipart/form-data with the file in a part named data (or file).")
	}
	return params["boundary"], nil
}

// bodyReader remembers whether reading the request body itself failed, to
// tell a client that went away (499) from a malformed body (400).
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// partReader is a part as the upload reads it: its chunks (no copy), or
// its bytes; it remembers the error that ended it, for classify.
type partReader struct {
	p   *mpart.Part
	err error
}

func (pr *partReader) NextChunk() (silo.Chunk, error) {
	c, err := pr.p.NextChunk()
	if err != nil {
		if err != io.EOF && pr.err == nil {
			pr.err = err
		}
		return silo.Chunk{}, err
	}
	return silo.Chunk{Data: c.Data, Buf: c.Buffer()}, nil
}

func (pr *partReader) Read(p []byte) (int, error) {
	n, err := pr.p.Read(p)
	if err != nil && err != io.EOF && pr.err == nil {
		pr.err = err
	}
	return n, err
}

// classify turns an error met while reading a multipart upload into what
// to answer. parseErr is the error the multipart reader gave, if any.
func (b *bodyReader) classify(err, parseErr error) error {
	var tooBig *http.MaxBytesError
	switch {
	case silo.ErrorCode(err) != silo.EINTERNAL:
		return err // the service's own verdict (quota, size, cancelled...)
	case errors.As(b.err, new(*silo.Error)):
		return b.err // the edge's own verdict (a body idle too long)
	case errors.As(b.err, &tooBig):
		return silo.Errorf(silo.EINVALID, "The request body is too large.")
	case b.err != nil:
		return silo.Errorf(silo.ECANCELED, "The upload connection was closed.")
	case parseErr != nil:
		return silo.Errorf(silo.EINVALID, "The multipart body is malformed: %v", parseErr)
	}
	return err
}
