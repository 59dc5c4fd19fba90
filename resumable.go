package silo

import (
	"context"
	"io"
	"time"
)

// Resumable uploads (tus 1.0.0, api/tus.go): a file sent in pieces, over
// many requests and through any node, with its whole length reserved
// against the quota when it is opened. The upload's state lives in the
// metadata store (UploadStore), its bytes in the blob store (Appender); the
// rules are in resumable_service.go.

// ResumableUpload is one upload as the metadata store keeps it.
type ResumableUpload struct {
	ID        string
	OrgID     string
	ProjectID string // the opening key's project; "" none
	KeyID     string // the key that opened it
	// ReservationID holds Length bytes against the quota until a dataset
	// takes them; "" once one has.
	ReservationID string
	Length        int64
	Offset        int64  // bytes stored durably so far
	Metadata      string // the Upload-Metadata header as sent
	Partial       bool   // Upload-Concat: partial
	BlobKey       string // where the bytes go; the dataset's part once complete
	// BlobState is the blob store's record of the pieces stored so far
	// (Appender), HashState the SHA-256 of the first Offset bytes
	// (encoding.BinaryMarshaler of crypto/sha256). Both move with Offset,
	// in the same write.
	BlobState []byte
	HashState []byte
	DatasetID string // the dataset made from it, once one is
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Complete reports whether every byte has arrived.
func (u *ResumableUpload) Complete() bool { return u.Offset == u.Length }

// ResumableNode is the node of a resumable upload's reservation: no process
// holds it in memory between requests, so no heartbeat renews it and no
// start-up recovery releases it. It lives until the upload expires (each
// PATCH moves that on) and is released then, by termination, or when a
// dataset takes it.
const ResumableNode = "tus"

// UploadStore keeps resumable uploads. Every implementation passes
// storetest.TestStore.
type UploadStore interface {
	// CreateUpload stores u in one transaction with its reservation of
	// u.Length bytes (node ResumableNode, lease until u.ExpiresAt, one
	// conditional UPDATE as Reserve does) and u.BlobKey pending under it.
	// u.CreatedAt is the caller's now: the upload's expiry and its locks
	// are leases, on the clock LeaseStore says.
	// *QuotaError if Length does not fit; nothing is stored then.
	CreateUpload(ctx context.Context, u *ResumableUpload) error
	// Upload returns one upload of one org; ENOTFOUND otherwise (another
	// org's, expired and swept, or terminated).
	Upload(ctx context.Context, orgID, id string) (*ResumableUpload, error)
	// Uploads lists the org's uploads that are not datasets, oldest first.
	Uploads(ctx context.Context, orgID string) ([]*ResumableUpload, error)
	// LockUpload gives the upload to owner until until, if no one else
	// holds it (or their lock lapsed), and returns it; ELOCKED if another
	// holds it, ENOTFOUND if there is none. PATCHes of one upload, on any
	// node, take it in turn.
	LockUpload(ctx context.Context, orgID, id, owner string, now, until time.Time) (*ResumableUpload, error)
	// UnlockUpload lets go of owner's lock (none held: not an error).
	UnlockUpload(ctx context.Context, id, owner string) error
	// UnlockUploads lets go of every upload lock at once, whatever its
	// lease. Only a process that knows it is the store's sole user may
	// call it (see Service.Recover).
	UnlockUploads(ctx context.Context) error
	// AdvanceUpload records u's Offset, BlobState, HashState and ExpiresAt
	// (the reservation's lease moves with it), if owner still holds the
	// lock and the stored offset is from; ENOTFOUND otherwise. now is the
	// caller's, as in LockUpload.
	AdvanceUpload(ctx context.Context, u *ResumableUpload, owner string, from int64, now time.Time) error
	// DeleteUpload removes the upload: if it still holds its reservation,
	// the bytes go back to the org and its blobs become garbage; a
	// dataset's blob stays the dataset's. ENOTFOUND if there is none.
	DeleteUpload(ctx context.Context, orgID, id string) error
	// ExpiredUploads lists up to limit uploads whose ExpiresAt is before now.
	ExpiredUploads(ctx context.Context, now time.Time, limit int) ([]*ResumableUpload, error)
	// ConcatUploads makes final (its CreatedAt the caller's now, as in
	// CreateUpload), in one transaction, from the complete
	// partial uploads ids of final's org, in that order: final takes over
	// the first partial's reservation, the others' bytes move into it (the
	// org's reserved bytes do not change), the partials' blobs become
	// garbage and final.BlobKey (already pending under that reservation)
	// stays pending; the partials are deleted. ECONFLICT if one is not a
	// complete partial upload (or is locked), ENOTFOUND if one is gone.
	ConcatUploads(ctx context.Context, final *ResumableUpload, ids []string) error
	// CreateDatasetFromUploads is CreateDataset for a dataset whose parts
	// are the blobs of complete uploads (ids, in part order): their
	// reservations are merged and become d's usage, their blobs live, and
	// each upload records d's id; all in one transaction. ECONFLICT if an
	// upload is incomplete, locked or a dataset already; ENOTFOUND if one is
	// gone.
	CreateDatasetFromUploads(ctx context.Context, d *Dataset, ids []string) error
}

// Appender is a blob store that builds a blob from pieces appended over
// time, by any node: the bytes of a resumable upload. The state it returns
// is its own record of the pieces stored so far; the caller keeps it in the
// metadata store with the offset and hands it back with the next piece.
type Appender interface {
	// Append stores r's bytes after the first offset bytes of the blob being
	// built under key (state describes them; nil for none yet) and returns
	// the state for offset+n. length is the blob's final size. When r fails
	// part-way it keeps what it read and returns the state for it with r's
	// error: the caller decides whether to record it. It never changes the
	// bytes that state describes, so a state that is not recorded costs
	// nothing. Every byte of the returned state is durable.
	Append(ctx context.Context, key string, state []byte, offset, length int64, r io.Reader) ([]byte, int64, error)
	// Seal makes the whole blob (length bytes, described by state) an
	// ordinary blob under key that Open reads. Sealing a sealed blob again
	// is not an error.
	Seal(ctx context.Context, key string, state []byte, length int64) error
}

// Joiner is a blob store that makes one blob of others without passing
// their bytes through silo (a copy inside the store): how the partial
// uploads of a concatenation become the final upload's blob.
type Joiner interface {
	// Join stores under key the blobs srcs, one after another, as Put
	// stores a blob (durable once it returns; nothing left under key if it
	// fails), and returns its size. The srcs stay as they are.
	Join(ctx context.Context, key string, srcs []string) (int64, error)
}
