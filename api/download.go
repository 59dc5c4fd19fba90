package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/silo-datasets/silo"
)

// Part URLs are capabilities: /download/{org}/{dataset}/{index}/{kind}
// with an expiry, the id of the API key that got the URL and an
// HMAC-SHA256 over all of it, keyed by a secret that every node reads from
// the metadata store. They work with or without an Authorization header
// (the Python SDK fetches them with none), on any node, until they expire.
// A download counts against the in-flight cap of the key in its URL.

const (
	kindAvro     = "avro"
	kindOriginal = "original"
)

// sign is the signature of a part URL; keyID "" signs a URL of the form
// made before URLs named their key (still valid until they expire).
func (s *Server) sign(org, dataset string, index int, kind string, expires int64, keyID string) string {
	m := hmac.New(sha256.New, s.SigningKey)
	fmt.Fprintf(m, "%s\n%s\n%d\n%s\n%d", org, dataset, index, kind, expires)
	if keyID != "" {
		fmt.Fprintf(m, "\n%s", keyID)
	}
	return hex.EncodeToString(m.Sum(nil))
}

func (s *Server) urlTTL() time.Duration {
	if s.URLTTL > 0 {
		return s.URLTTL
	}
	return DefaultURLTTL
}

// partURL returns a URL of a part signed for the key keyID.
func (s *Server) partURL(d *silo.Dataset, index int, kind, keyID string) string {
	exp := time.Now().Add(s.urlTTL()).Unix()
	return fmt.Sprintf("%s/download/%s/%s/%d/%s?expires=%d&key=%s&signature=%s", s.PublicURL,
		url.PathEscape(d.OrgID), url.PathEscape(d.ID), index, kind, exp, url.QueryEscape(keyID),
		s.sign(d.OrgID, d.ID, index, kind, exp, keyID))
}

var errBadURL = silo.Errorf(silo.EFORBIDDEN, "this download URL is invalid or has expired; get the dataset again for a fresh one")

func (s *Server) handleDownload(w http.ResponseWriter, r *http.Request) {
	org, dataset, kind := r.PathValue("org"), r.PathValue("dataset"), r.PathValue("kind")
	index, err := strconv.Atoi(r.PathValue("index"))
	q := r.URL.Query()
	exp, err2 := strconv.ParseInt(q.Get("expires"), 10, 64)
	keyID := q.Get("key")
	want := s.sign(org, dataset, index, kind, exp, keyID)
	// The signature is checked before anything is looked up, so a bad URL
	// says nothing about whether the dataset exists.
	if err != nil || err2 != nil || (kind != kindAvro && kind != kindOriginal) ||
		!hmac.Equal([]byte(want), []byte(q.Get("signature"))) || time.Now().Unix() > exp {
		writeError(w, r, errBadURL)
		return
	}
	if slots := s.slots; slots != nil {
		if keyID == "" {
			keyID = "org:" + org // a URL from before URLs named their key
		}
		if !slots.take(keyID) {
			overKeyCap(w, r, slots.limit)
			return
		}
		defer slots.give(keyID)
	}
	if tooManyRanges(r.Header.Get("Range")) {
		r.Header.Del("Range") // the whole file, read once
	}
	d, p, err := s.Service.OpenPart(r.Context(), org, dataset, index, kind == kindAvro)
	if err != nil {
		writeError(w, r, err)
		return
	}
	key, size, sum, name, ctype := p.BlobKey, p.SizeBytes, p.SHA256, p.Name, contentTypes[p.Format]
	if kind == kindAvro {
		key, size, sum, ctype = p.AvroKey, p.AvroSize, p.AvroSHA256, "application/avro"
		name = strings.TrimSuffix(name, extOf(name)) + ".avro"
	}
	w.Header().Set("ETag", `"`+sum+`"`)
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", safeFilename(name)))
	w.Header().Set("Cache-Control", "private, max-age=0")
	rs := &blobSeeker{ctx: r.Context(), blobs: s.Service.Blobs, key: key, size: size}
	defer rs.Close()
	http.ServeContent(w, r, "", d.UpdatedAt, rs)
}

// maxRanges is the most ranges a download's Range header may ask for:
// http.ServeContent serves each range of a multipart answer with a Seek,
// which is a new blob read (on S3 a GET) per range. Browsers and download
// managers ask for one; a header of thousands is an attack.
const maxRanges = 16

func tooManyRanges(h string) bool {
	return strings.Count(h, ",") >= maxRanges
}

var contentTypes = map[silo.Format]string{
	silo.FormatJSONL: "application/jsonl",
	silo.FormatCSV:   "text/csv; charset=utf-8",
	silo.FormatTXT:   "text/plain; charset=utf-8",
}

func extOf(name string) string {
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		return name[i:]
	}
	return ""
}

// safeFilename keeps a header-safe subset of a client-given file name.
func safeFilename(name string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == '"' || r == '\\' || r == 0x7f {
			return '_'
		}
		return r
	}, name)
}

// blobSeeker lets http.ServeContent serve ranges of a blob without reading
// the blob whole: it opens the blob at the offset of the first Read after a
// Seek.
type blobSeeker struct {
	ctx   context.Context
	blobs silo.BlobStore
	key   string
	size  int64
	off   int64
	rc    io.ReadCloser
}

func (b *blobSeeker) Read(p []byte) (int, error) {
	if b.off >= b.size {
		return 0, io.EOF
	}
	if b.rc == nil {
		rc, err := b.blobs.Open(b.ctx, b.key, b.off, -1)
		if err != nil {
			return 0, err
		}
		b.rc = rc
	}
	n, err := b.rc.Read(p)
	b.off += int64(n)
	return n, err
}

func (b *blobSeeker) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = b.off + offset
	case io.SeekEnd:
		abs = b.size + offset
	}
	if abs < 0 {
		return 0, errors.New("negative position")
	}
	if abs != b.off {
		b.Close()
		b.off = abs
	}
	return abs, nil
}

func (b *blobSeeker) Close() error {
	if b.rc == nil {
		return nil
	}
	err := b.rc.Close()
	b.rc = nil
	return err
}

// Wire shapes of the Dataset object: Cohere's fields, then silo's additions.

type datasetJSON struct {
	ID                 string           `json:"id"`
	Name               string           `json:"name"`
	CreatedAt          string           `json:"created_at"`
	UpdatedAt          string           `json:"updated_at"`
	DatasetType        silo.DatasetType `json:"dataset_type"`
	ValidationStatus   silo.Status      `json:"validation_status"`
	ValidationError    string           `json:"validation_error,omitempty"`
	Schema             string           `json:"schema,omitempty"`
	RequiredFields     []string         `json:"required_fields,omitempty"`
	PreserveFields     []string         `json:"preserve_fields,omitempty"`
	DatasetParts       []partJSON       `json:"dataset_parts"`
	ValidationWarnings []string         `json:"validation_warnings,omitempty"`
	ParseInfo          *parseInfoJSON   `json:"parse_info,omitempty"`
	Metrics            json.RawMessage  `json:"metrics,omitempty"`
	// silo extensions.
	SizeBytes  int64  `json:"size_bytes"`
	ClientName string `json:"client_name,omitempty"`
	ExpiresAt  string `json:"expires_at,omitempty"`
}

type partJSON struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	URL         string   `json:"url,omitempty"`
	Index       int      `json:"index"`
	SizeBytes   int64    `json:"size_bytes"`
	NumRows     int64    `json:"num_rows"`
	OriginalURL string   `json:"original_url,omitempty"`
	Samples     []string `json:"samples,omitempty"`
	// silo extensions.
	Kind   silo.PartKind `json:"kind"`
	SHA256 string        `json:"sha256"`
}

type parseInfoJSON struct {
	Separator string `json:"separator,omitempty"`
	Delimiter string `json:"delimiter,omitempty"`
}

// datasetJSON is d as the API shows it to the key keyID, whose downloads
// of the dataset's part URLs count against its in-flight cap.
func (s *Server) datasetJSON(d *silo.Dataset, keyID string) *datasetJSON {
	out := &datasetJSON{
		ID: d.ID, Name: d.Name, CreatedAt: formatTime(d.CreatedAt), UpdatedAt: formatTime(d.UpdatedAt),
		DatasetType: d.Type, ValidationStatus: d.Status, ValidationError: d.Report.Error,
		Schema: d.Report.Schema, RequiredFields: d.Report.RequiredFields, PreserveFields: d.Report.PreserveFields,
		ValidationWarnings: d.Report.Warnings, Metrics: d.Report.Metrics,
		DatasetParts: make([]partJSON, 0, len(d.Parts)), SizeBytes: d.SizeBytes, ClientName: d.ClientName,
	}
	if d.Params.TextSeparator != "" || d.Params.CSVDelimiter != "" {
		out.ParseInfo = &parseInfoJSON{Separator: d.Params.TextSeparator, Delimiter: d.Params.CSVDelimiter}
	}
	if d.ExpiresAt != nil {
		out.ExpiresAt = formatTime(*d.ExpiresAt)
	}
	for _, p := range d.Parts {
		pj := partJSON{ID: p.ID, Name: p.Name, Index: p.Index, SizeBytes: p.SizeBytes, NumRows: p.NumRows,
			Samples: p.Samples, Kind: p.Kind, SHA256: p.SHA256}
		if p.AvroKey != "" {
			pj.URL = s.partURL(d, p.Index, kindAvro, keyID)
		}
		if !p.OriginalDropped {
			pj.OriginalURL = s.partURL(d, p.Index, kindOriginal, keyID)
		}
		out.DatasetParts = append(out.DatasetParts, pj)
	}
	return out
}
