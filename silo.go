// Package silo is the domain of a Cohere-wire-compatible Datasets service:
// organisations with a storage quota, API keys with roles, datasets and their
// parts, and the errors the service speaks in.
//
// The root package holds plain types and the small interfaces the service
// layer (service.go) needs. Backends live in their own packages (sqlite,
// postgres, disk, s3) and implement those interfaces; cmd/silo wires them.
package silo

import (
	"encoding/json"
	"time"
)

// Role is what an API key may do. reader, writer and admin are ordered:
// each includes the ones below it. metrics stands apart: it reads /metrics
// and nothing else (a scraper's least privilege); admin includes it too.
type Role string

const (
	RoleReader  Role = "reader"  // list, get, download, usage of its organisation
	RoleWriter  Role = "writer"  // reader + create and delete datasets
	RoleAdmin   Role = "admin"   // writer + the admin API across all organisations
	RoleMetrics Role = "metrics" // GET /metrics only
)

func (r Role) rank() int {
	switch r {
	case RoleReader:
		return 1
	case RoleWriter:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r.rank() > 0 || r == RoleMetrics }

// Includes reports whether a key with role r may do what needs role min.
func (r Role) Includes(min Role) bool {
	if min == RoleMetrics {
		return r == RoleMetrics || r == RoleAdmin
	}
	return r.rank() >= min.rank() && r.rank() > 0
}

// Org is an organisation: the unit of tenancy and of the storage quota.
//
// UsedBytes is the exact sum of the uploaded file sizes of its live datasets;
// ReservedBytes is what uploads still in flight hold against the quota. Both
// are kept in the org's own row so that reading usage is O(1).
type Org struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	QuotaBytes    int64     `json:"quota_bytes"`
	UsedBytes     int64     `json:"usage_bytes"`
	ReservedBytes int64     `json:"reserved_bytes"`
	CreatedAt     time.Time `json:"created_at"`
}

// Project is a part of an organisation with a quota of its own (CONTRACT
// "Projects"). Its counters are kept like the org's, in its own row, and
// change in the same transactions: UsedBytes is the exact sum of its
// datasets' sizes, ReservedBytes what its uploads in flight hold. Every
// byte a project counts, its organisation counts too, so the org's quota
// caps the sum of its projects however their quotas add up.
type Project struct {
	ID    string `json:"id"`
	OrgID string `json:"org_id"`
	Name  string `json:"name"`
	// QuotaBytes is the project's own limit; nil: none but the org's.
	QuotaBytes    *int64    `json:"quota_bytes"`
	UsedBytes     int64     `json:"usage_bytes"`
	ReservedBytes int64     `json:"reserved_bytes"`
	CreatedAt     time.Time `json:"created_at"`
}

// Key is an API key. Only the SHA-256 hash of the secret is stored; Secret is
// set only on the value returned by the call that created the key.
//
// A key bound to a project (ProjectID) sees and changes its project's
// datasets only, and its creates count against the project's quota as
// well as the org's; a key of no project sees the whole organisation.
type Key struct {
	ID        string     `json:"id"`
	OrgID     string     `json:"org_id"`
	ProjectID string     `json:"project_id,omitempty"`
	Role      Role       `json:"role"`
	Name      string     `json:"name"`
	Hash      []byte     `json:"-"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at"`
	Secret    string     `json:"key,omitempty"`
	// Project is the key's project with its counters, read with the key
	// in the same query by KeyWithOrg; nil for a key of no project, or
	// when read otherwise.
	Project *Project `json:"-"`
}

// Revoked reports whether the key has been deny-listed.
func (k *Key) Revoked() bool { return k.RevokedAt != nil }

// ErrLastAdmin is what a store's RevokeKey and DeleteOrg return, having
// changed nothing, when the change would leave no unrevoked admin key:
// every operator would be locked out of the admin API, and bootstrap never
// runs again once a key exists. The stores check it inside the change's
// own transaction, so two admins revoking each other at once cannot both
// succeed. The service words the answer (409).
var ErrLastAdmin = &Error{Code: ECONFLICT, Message: "this would leave no admin key that is not revoked"}

// DatasetType is Cohere's dataset type enum. It is a plain string so that
// types unknown to this version can still be stored and shown.
type DatasetType string

// The dataset types of Cohere's enum.
const (
	TypeEmbedInput           DatasetType = "embed-input"
	TypeEmbedResult          DatasetType = "embed-result"
	TypeClusterResult        DatasetType = "cluster-result"
	TypeClusterOutliers      DatasetType = "cluster-outliers"
	TypeRerankerFinetune     DatasetType = "reranker-finetune-input"
	TypeSingleLabelFinetune  DatasetType = "single-label-classification-finetune-input"
	TypeChatFinetune         DatasetType = "chat-finetune-input"
	TypeMultiLabelFinetune   DatasetType = "multi-label-classification-finetune-input"
	TypeBatchChatInput       DatasetType = "batch-chat-input"
	TypeBatchOpenAIChatInput DatasetType = "batch-openai-chat-input"
	TypeBatchEmbedV2Input    DatasetType = "batch-embed-v2-input"
	TypeBatchChatV2Input     DatasetType = "batch-chat-v2-input"
)

// DatasetTypes lists every type of Cohere's enum, in its order.
var DatasetTypes = []DatasetType{
	TypeEmbedInput, TypeEmbedResult, TypeClusterResult, TypeClusterOutliers,
	TypeRerankerFinetune, TypeSingleLabelFinetune, TypeChatFinetune, TypeMultiLabelFinetune,
	TypeBatchChatInput, TypeBatchOpenAIChatInput, TypeBatchEmbedV2Input, TypeBatchChatV2Input,
}

// Known reports whether t is in Cohere's enum.
func (t DatasetType) Known() bool {
	for _, k := range DatasetTypes {
		if t == k {
			return true
		}
	}
	return false
}

// Status is a dataset's validation status. A dataset starts queued, may pass
// processing, and ends validated or failed; it is never unknown while work is
// pending (the Python SDK's wait treats unknown as failure).
type Status string

const (
	StatusQueued     Status = "queued"
	StatusProcessing Status = "processing"
	StatusValidated  Status = "validated"
	StatusFailed     Status = "failed"
	StatusSkipped    Status = "skipped"
	StatusUnknown    Status = "unknown"
)

// Known reports whether s is in Cohere's enum.
func (s Status) Known() bool {
	switch s {
	case StatusQueued, StatusProcessing, StatusValidated, StatusFailed, StatusSkipped, StatusUnknown:
		return true
	}
	return false
}

// Final reports whether validation has come to an end.
func (s Status) Final() bool { return s == StatusValidated || s == StatusFailed || s == StatusSkipped }

// Format is the file format of an uploaded part.
type Format string

const (
	FormatJSONL Format = "jsonl"
	FormatCSV   Format = "csv"
	FormatTXT   Format = "txt"
)

// PartKind tells the training file from the evaluation file.
type PartKind string

const (
	PartTrain PartKind = "train"
	PartEval  PartKind = "eval"
)

// CreateParams are the optional query parameters of a create, as Cohere
// names them.
type CreateParams struct {
	KeepOriginalFile   bool     `json:"keep_original_file"`
	SkipMalformedInput bool     `json:"skip_malformed_input"`
	KeepFields         []string `json:"keep_fields,omitempty"`
	OptionalFields     []string `json:"optional_fields,omitempty"`
	TextSeparator      string   `json:"text_separator,omitempty"`
	CSVDelimiter       string   `json:"csv_delimiter,omitempty"`
}

// Dataset is an uploaded dataset of one organisation.
type Dataset struct {
	ID         string
	OrgID      string
	ProjectID  string // "" outside projects
	Name       string
	Type       DatasetType
	Status     Status
	CreatedAt  time.Time
	UpdatedAt  time.Time
	ExpiresAt  *time.Time // nil: kept until deleted
	ClientName string     // X-Client-Name of the create
	KeyID      string     // the API key that created it; "" before silo recorded it
	Params     CreateParams
	SizeBytes  int64 // sum of the parts' uploaded sizes: what the dataset counts in usage
	Parts      []Part
	Report     Report // filled in by validation
	// IdempotencyKey, when set, is the Idempotency-Key of the create: the
	// store marks the key's record done in the create's transaction.
	IdempotencyKey string
}

// Part is one uploaded file of a dataset (the training data, or the
// evaluation data) and, once validated, its Avro rendering.
type Part struct {
	ID        string   `json:"id"`
	Index     int      `json:"index"`
	Name      string   `json:"name"`
	Kind      PartKind `json:"kind"`
	Format    Format   `json:"format"`
	Filename  string   `json:"filename,omitempty"` // as sent; never used as a path
	BlobKey   string   `json:"blob_key"`           // the uploaded bytes
	SizeBytes int64    `json:"size_bytes"`
	SHA256    string   `json:"sha256"`
	// Filled in by validation.
	NumRows    int64    `json:"num_rows"`
	Samples    []string `json:"samples,omitempty"`
	AvroKey    string   `json:"avro_key,omitempty"`
	AvroSize   int64    `json:"avro_size,omitempty"`
	AvroSHA256 string   `json:"avro_sha256,omitempty"`
	// OriginalDropped is set once validation has removed the uploaded file
	// because the create asked keep_original_file=false. Usage still counts
	// the uploaded bytes.
	OriginalDropped bool `json:"original_dropped,omitempty"`
}

// Report is what validation found out about a dataset.
type Report struct {
	Error          string          `json:"error,omitempty"`
	Warnings       []string        `json:"warnings,omitempty"`
	Schema         string          `json:"schema,omitempty"`
	RequiredFields []string        `json:"required_fields,omitempty"`
	PreserveFields []string        `json:"preserve_fields,omitempty"`
	Metrics        json.RawMessage `json:"metrics,omitempty"` // Cohere's Metrics object, as JSON
}

// Reservation is an upload in flight: bytes held against its organisation's
// quota, owned by one node until its lease runs out.
type Reservation struct {
	ID        string
	OrgID     string
	ProjectID string // counted against this project too; "" none
	Node      string
	Bytes     int64
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Job is a claimed validation job.
type Job struct {
	DatasetID  string
	OrgID      string
	Owner      string
	Attempt    int
	LeaseUntil time.Time
}

// DatasetFilter selects and pages datasets of one organisation. Results come
// newest first (created_at, then id, descending).
type DatasetFilter struct {
	OrgID     string
	ProjectID string      // "" = the whole organisation
	Type      DatasetType // "" = any
	Status    Status      // "" = any
	Before    *time.Time  // created_at < Before
	After     *time.Time  // created_at > After
	Limit     int         // 0 = all
	Offset    int
	// Cursor, if set, continues a list after the dataset it names: only
	// datasets after it in the list's order, (created_at, id) below its
	// (CreatedAt, ID). Lists are read page by page with it, so that no
	// store connection is held while a client reads (Service.Datasets).
	Cursor *ListCursor
}

// ListCursor is where a list of datasets stopped: the last dataset sent.
type ListCursor struct {
	CreatedAt time.Time
	ID        string
}

// UsageSample is the organisation's usage at one moment, recorded with every
// change.
type UsageSample struct {
	At        time.Time `json:"at"`
	UsedBytes int64     `json:"used_bytes"`
}
