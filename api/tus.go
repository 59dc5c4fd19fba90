package api

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/silo-datasets/silo"
)

// The tus 1.0.0 resumable upload protocol (tus.io/protocols/resumable-upload)
// under /v1/uploads: core plus creation, creation-with-upload, expiration,
// checksum, termination and concatenation. This file only speaks the
// protocol (headers in, headers out); the rules are the service's
// (resumable_service.go). silo writes its own handler rather than
// embedding tusd's: tusd's handler has no checksum or expiration
// extension, and silo's quota must be reserved in the same transaction
// that opens the upload, which its hooks cannot do.

const (
	tusVersion    = "1.0.0"
	tusExtensions = "creation,creation-with-upload,expiration,checksum,termination,concatenation"
	tusChecksums  = "sha1,sha256,md5"
	offsetStream  = "application/offset+octet-stream"
	uploadsPath   = "/v1/uploads"
)

// isTusOptions: OPTIONS needs no key (clients discover the server first).
func isTusOptions(r *http.Request) bool {
	return r.Method == http.MethodOptions && (r.URL.Path == uploadsPath || strings.HasPrefix(r.URL.Path, uploadsPath+"/"))
}

func (s *Server) handleTusOptions(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Tus-Resumable", tusVersion)
	h.Set("Tus-Version", tusVersion)
	h.Set("Tus-Extension", tusExtensions)
	h.Set("Tus-Max-Size", strconv.FormatInt(s.maxDatasetSize(), 10))
	h.Set("Tus-Checksum-Algorithm", tusChecksums)
	w.WriteHeader(http.StatusNoContent)
}

// tusHeaders marks a tus answer and checks the client's version: a client
// that names another one gets 412 (one that names none is served).
func tusHeaders(w http.ResponseWriter, r *http.Request) bool {
	w.Header().Set("Tus-Resumable", tusVersion)
	if v := r.Header.Get("Tus-Resumable"); v != "" && v != tusVersion {
		w.Header().Set("Tus-Version", tusVersion)
		writeError(w, r, silo.Errorf(silo.EPRECONDITION, "Tus-Resumable %q is not supported: silo speaks tus %s.", v, tusVersion))
		return false
	}
	return true
}

// handleTusCreate opens an upload (POST /v1/uploads): plain, partial, the
// final one of a concatenation, or with its first bytes.
func (s *Server) handleTusCreate(w http.ResponseWriter, r *http.Request) {
	if !tusHeaders(w, r) {
		return
	}
	c := callerOf(r)
	if r.Header.Get("Upload-Defer-Length") != "" {
		writeError(w, r, silo.Errorf(silo.EINVALID, "Upload-Defer-Length is not supported: send Upload-Length, the file's size, so that its bytes can be reserved against the quota."))
		return
	}
	raw := r.Header.Get("Upload-Metadata")
	meta, err := parseTusMetadata(raw)
	if err != nil {
		writeError(w, r, err)
		return
	}
	req := silo.NewResumable{Metadata: raw, Filename: meta["filename"]}
	if meta["name"] != "" || meta["type"] != "" {
		d, err := metadataRequest(meta)
		if err != nil {
			writeError(w, r, err)
			return
		}
		req.Dataset = &d
	}
	concat := r.Header.Get("Upload-Concat")
	var u *silo.ResumableUpload
	switch {
	case strings.HasPrefix(concat, "final;"):
		ids, err := concatIDs(strings.TrimPrefix(concat, "final;"))
		if err == nil {
			u, err = s.Service.ConcatResumable(r.Context(), c, req, ids)
		}
		if err != nil {
			writeError(w, r, err)
			return
		}
	case concat != "" && concat != "partial":
		writeError(w, r, silo.Errorf(silo.EINVALID, "Upload-Concat must be partial or final;URL1 URL2 ..., not %q.", concat))
		return
	default:
		req.Partial = concat == "partial"
		if req.Length, err = headerInt(r, "Upload-Length"); err != nil {
			writeError(w, r, err)
			return
		}
		if u, err = s.Service.CreateResumable(r.Context(), c, req); err != nil {
			writeError(w, r, err)
			return
		}
	}
	w.Header().Set("Location", s.uploadURL(r, u.ID))
	if r.ContentLength != 0 && r.Header.Get("Content-Type") == offsetStream && !u.Complete() {
		// creation-with-upload: the body is the first PATCH. The upload
		// exists whatever becomes of it; the answer says how far it got.
		if u, err = s.appendBody(w, r, u.ID, 0); err != nil {
			writeError(w, r, err)
			return
		}
	} else if err := s.maybeDataset(w, r, u); err != nil {
		writeError(w, r, err)
		return
	}
	uploadHeaders(w, u)
	w.WriteHeader(http.StatusCreated)
}

// uploadURL is the upload's absolute URL, under the public URL.
func (s *Server) uploadURL(r *http.Request, id string) string {
	base := s.PublicURL
	if base == "" {
		base = "http://" + r.Host
	}
	return strings.TrimSuffix(base, "/") + uploadsPath + "/" + id
}

// concatIDs reads the upload ids out of an Upload-Concat final list: URLs
// (absolute or paths) of uploads, separated by spaces.
func concatIDs(list string) ([]string, error) {
	var ids []string
	for _, f := range strings.Fields(list) {
		u, err := url.Parse(f)
		if err != nil {
			return nil, silo.Errorf(silo.EINVALID, "Upload-Concat holds %q, which is not an upload URL.", f)
		}
		id, ok := strings.CutPrefix(u.Path, uploadsPath+"/")
		if !ok || id == "" || strings.Contains(id, "/") {
			return nil, silo.Errorf(silo.EINVALID, "Upload-Concat holds %q, which is not an upload URL (%s/ID).", f, uploadsPath)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, silo.Errorf(silo.EINVALID, "Upload-Concat: final; names no partial uploads.")
	}
	return ids, nil
}

func headerInt(r *http.Request, name string) (int64, error) {
	v := r.Header.Get(name)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || v == "" || v[0] == '+' {
		if v == "" {
			return 0, silo.Errorf(silo.EINVALID, "The %s header is required.", name)
		}
		return 0, silo.Errorf(silo.EINVALID, "%s must be a number of bytes, not %q.", name, v)
	}
	return n, nil
}

func uploadHeaders(w http.ResponseWriter, u *silo.ResumableUpload) {
	h := w.Header()
	h.Set("Upload-Offset", strconv.FormatInt(u.Offset, 10))
	h.Set("Upload-Expires", u.ExpiresAt.UTC().Format(http.TimeFormat))
	if u.DatasetID != "" {
		h.Set("Silo-Dataset-Id", u.DatasetID)
	}
}

// handleTusHead says how far an upload got (HEAD /v1/uploads/{id}).
func (s *Server) handleTusHead(w http.ResponseWriter, r *http.Request) {
	if !tusHeaders(w, r) {
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	u, err := s.Service.ResumableUpload(r.Context(), callerOf(r), r.PathValue("id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Upload-Length", strconv.FormatInt(u.Length, 10))
	if u.Metadata != "" {
		h.Set("Upload-Metadata", u.Metadata)
	}
	if u.Partial {
		h.Set("Upload-Concat", "partial")
	}
	uploadHeaders(w, u)
	w.WriteHeader(http.StatusOK)
}

// handleTusPatch appends a body (PATCH /v1/uploads/{id}).
func (s *Server) handleTusPatch(w http.ResponseWriter, r *http.Request) {
	if !tusHeaders(w, r) {
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != offsetStream {
		writeError(w, r, silo.Errorf(silo.EMEDIATYPE, "A PATCH body must be sent as Content-Type: %s, not %q.", offsetStream, ct))
		return
	}
	offset, err := headerInt(r, "Upload-Offset")
	if err != nil {
		writeError(w, r, err)
		return
	}
	u, err := s.appendBody(w, r, r.PathValue("id"), offset)
	if err != nil {
		writeError(w, r, err)
		return
	}
	uploadHeaders(w, u)
	w.WriteHeader(http.StatusNoContent)
}

// appendBody sends the request's body to the upload and, once the upload is
// complete, makes the dataset its metadata asks for.
func (s *Server) appendBody(w http.ResponseWriter, r *http.Request, id string, offset int64) (*silo.ResumableUpload, error) {
	sum, err := parseChecksum(r.Header.Get("Upload-Checksum"))
	if err != nil {
		return nil, err
	}
	body := &bodyReader{r: r.Body}
	u, err := s.Service.AppendResumable(r.Context(), callerOf(r), silo.Patch{
		ID: id, Offset: offset, Body: body, Checksum: sum, Length: r.ContentLength,
	})
	if err != nil {
		return nil, body.classify(err, nil)
	}
	return u, s.maybeDataset(w, r, u)
}

// maybeDataset makes the dataset that a complete upload's metadata asks
// for (name and type), before the answer: from then on it is acknowledged.
func (s *Server) maybeDataset(w http.ResponseWriter, r *http.Request, u *silo.ResumableUpload) error {
	if !u.Complete() || u.Partial {
		return nil
	}
	meta, err := parseTusMetadata(u.Metadata)
	if err != nil || meta["name"] == "" && meta["type"] == "" {
		return err
	}
	req, err := metadataRequest(meta)
	if err != nil {
		return err
	}
	ids := []string{u.ID}
	if e := meta["eval_for"]; e != "" {
		ids = append(ids, e) // the complete upload that is the dataset's eval file
	}
	d, err := s.Service.DatasetFromUploads(r.Context(), callerOf(r), req, uploadFilename, ids)
	if err != nil {
		return err
	}
	u.DatasetID = d.ID
	return nil
}

// metadataRequest reads a create's parameters from an upload's metadata,
// by the names of the datasets API's query parameters.
func metadataRequest(meta map[string]string) (silo.UploadRequest, error) {
	q := url.Values{}
	for k, v := range meta {
		q.Set(k, v)
	}
	return parseCreateQuery(q)
}

// handleTusDelete terminates an upload (DELETE /v1/uploads/{id}).
func (s *Server) handleTusDelete(w http.ResponseWriter, r *http.Request) {
	if !tusHeaders(w, r) {
		return
	}
	if err := s.Service.TerminateResumable(r.Context(), callerOf(r), r.PathValue("id")); err != nil {
		writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type uploadJSON struct {
	ID           string            `json:"id"`
	UploadLength int64             `json:"upload_length"`
	UploadOffset int64             `json:"upload_offset"`
	Partial      bool              `json:"partial,omitempty"`
	ExpiresAt    string            `json:"expires_at"`
	CreatedAt    string            `json:"created_at"`
	Metadata     map[string]string `json:"metadata"`
	URL          string            `json:"url"`
}

// handleTusList lists the org's uploads that are not datasets (GET
// /v1/uploads, a silo extension: what the dashboard offers to resume).
func (s *Server) handleTusList(w http.ResponseWriter, r *http.Request) {
	us, err := s.Service.ResumableUploads(r.Context(), callerOf(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]uploadJSON, 0, len(us))
	for _, u := range us {
		meta, _ := parseTusMetadata(u.Metadata) // stored only once parsed
		if meta == nil {
			meta = map[string]string{}
		}
		out = append(out, uploadJSON{
			ID: u.ID, UploadLength: u.Length, UploadOffset: u.Offset, Partial: u.Partial,
			ExpiresAt: formatTime(u.ExpiresAt), CreatedAt: formatTime(u.CreatedAt), Metadata: meta,
			URL: s.uploadURL(r, u.ID),
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"uploads": out})
}

// createFromUploads is POST /v1/datasets?...&upload_id=ID[&eval_upload_id=ID2]:
// a create whose files are complete uploads.
func (s *Server) createFromUploads(w http.ResponseWriter, r *http.Request, req silo.UploadRequest) {
	q := r.URL.Query()
	ids := []string{q.Get("upload_id")}
	if e := q.Get("eval_upload_id"); e != "" {
		ids = append(ids, e)
	}
	d, err := s.Service.DatasetFromUploads(r.Context(), callerOf(r), req, uploadFilename, ids)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": d.ID})
}

// uploadFilename is the file name an upload's metadata gives, if any.
func uploadFilename(u *silo.ResumableUpload) string {
	meta, _ := parseTusMetadata(u.Metadata) // stored only once parsed
	return meta["filename"]
}

// parseTusMetadata reads Upload-Metadata: comma-separated pairs of a key
// and the base64 of its value (the value may be absent). Keys are unique,
// ASCII without spaces or commas; values must be UTF-8 text without NUL.
func parseTusMetadata(raw string) (map[string]string, error) {
	meta := map[string]string{}
	if strings.TrimSpace(raw) == "" {
		return meta, nil
	}
	if len(raw) > 16<<10 {
		return nil, silo.Errorf(silo.EINVALID, "Upload-Metadata is too long: at most 16 KiB.")
	}
	for _, pair := range strings.Split(raw, ",") {
		pair = strings.TrimSpace(pair)
		key, enc, _ := strings.Cut(pair, " ")
		if key == "" || strings.ContainsFunc(key, func(c rune) bool { return c <= ' ' || c > '~' }) {
			return nil, silo.Errorf(silo.EINVALID, "Upload-Metadata holds an invalid key in %q: keys are ASCII without spaces or commas.", pair)
		}
		if _, dup := meta[key]; dup {
			return nil, silo.Errorf(silo.EINVALID, "Upload-Metadata holds the key %q twice.", key)
		}
		v, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
		if err != nil {
			return nil, silo.Errorf(silo.EINVALID, "Upload-Metadata's value of %q is not base64.", key)
		}
		if !utf8.Valid(v) || strings.ContainsRune(string(v), 0) {
			return nil, silo.Errorf(silo.EINVALID, "Upload-Metadata's value of %q is not valid UTF-8 text.", key)
		}
		meta[key] = string(v)
	}
	return meta, nil
}

// checksums are the algorithms of the checksum extension.
var checksums = map[string]func() hash.Hash{"sha1": sha1.New, "sha256": sha256.New, "md5": md5.New}

// parseChecksum reads Upload-Checksum: an algorithm and the base64 of the
// body's digest.
func parseChecksum(v string) (*silo.Checksum, error) {
	if v == "" {
		return nil, nil
	}
	algo, enc, ok := strings.Cut(strings.TrimSpace(v), " ")
	newHash, known := checksums[algo]
	if !ok || !known {
		names := make([]string, 0, len(checksums))
		for n := range checksums {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, silo.Errorf(silo.EINVALID, "Upload-Checksum must be ALGORITHM BASE64 with an algorithm of %s, not %q.", strings.Join(names, ", "), v)
	}
	sum, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if err != nil || len(sum) != newHash().Size() {
		return nil, silo.Errorf(silo.EINVALID, "Upload-Checksum's digest is not the base64 of a %s digest.", algo)
	}
	return &silo.Checksum{New: newHash, Sum: sum}, nil
}
