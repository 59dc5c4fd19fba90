package silo

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxNameLength: Cohere refuses names of 50 characters or more.
const MaxNameLength = 50

// MultipartSlack is how many bytes of a create's Content-Length are taken to
// be multipart framing (boundaries, part headers) rather than file bytes when
// deciding an early refusal. Content-Length may justify refusing a create
// before reading it only if the request could not fit even without its
// framing; part headers larger than this are unusual enough to ignore.
const MultipartSlack = 64 << 10

// UploadRequest is a create as the API received it, before any file byte.
type UploadRequest struct {
	Name          string
	Type          DatasetType
	Params        CreateParams
	ContentLength int64 // of the whole request; -1 if unknown
	// The Idempotency-Key of the create and the claim on it, if any
	// (Service.ClaimIdempotency).
	IdempotencyKey, IdempotencyClaim string
}

// CheckUpload validates a create's parameters, as Cohere does, before any
// byte of its body is read.
func CheckUpload(r UploadRequest) error {
	switch {
	case strings.TrimSpace(r.Name) == "":
		return Errorf(EINVALID, "The name parameter must be set.")
	case utf8.RuneCountInString(r.Name) >= MaxNameLength:
		return Errorf(EINVALID, "The name must be less than %d characters long.", MaxNameLength)
	case r.Type == "":
		return Errorf(EINVALID, "The type parameter must be set.")
	case !r.Type.Known():
		return Errorf(EINVALID, "The dataset type is invalid: %q is not one of %s.", r.Type, typeList())
	case r.Params.CSVDelimiter != "" && utf8.RuneCountInString(r.Params.CSVDelimiter) != 1:
		return Errorf(EINVALID, "You have used an invalid csv delimiter: csv_delimiter must be exactly one character long.")
	}
	return nil
}

func typeList() string {
	s := make([]string, len(DatasetTypes))
	for i, t := range DatasetTypes {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// Upload is a create in progress: a reservation against the quota that
// grows as file bytes arrive, and the blobs written so far. Call Commit to
// make it a dataset or Abort to throw it away; Abort after Commit is a no-op,
// so `defer u.Abort()` is the idiom.
type Upload struct {
	s      *Service
	caller *Caller
	req    UploadRequest
	res    *Reservation
	held   int64 // bytes the reservation holds
	size   int64 // file bytes received
	// announced is the file bytes the request says it carries (its
	// Content-Length less the multipart framing), 0 if unknown: a quota
	// refusal names it, rather than the bytes read so far.
	announced     int64
	announcedHeld bool // the Content-Length's reservation is made
	parts         []Part
	blobs         []string
	done          bool
}

// BeginUpload checks the caller and the parameters and opens a reservation.
// With a Content-Length, the first file (once its name is known to be one
// silo can read) reserves, in one step, all the bytes the files can have;
// if even the bytes they must have do not fit, the create is refused then,
// before any file byte is read.
func (s *Service) BeginUpload(ctx context.Context, c *Caller, req UploadRequest) (*Upload, error) {
	if err := require(c, RoleWriter); err != nil {
		return nil, err
	}
	if err := CheckUpload(req); err != nil {
		return nil, err
	}
	minFileBytes := req.ContentLength - MultipartSlack
	if minFileBytes > s.maxDatasetSize() {
		return nil, s.tooLarge()
	}
	if err := s.Disk.Fits(minFileBytes); err != nil {
		return nil, err
	}
	now := s.now()
	u := &Upload{s: s, caller: c, req: req, res: &Reservation{
		ID: NewID("res_"), OrgID: c.OrgID(), ProjectID: c.ProjectID(), Node: s.Node, CreatedAt: now, ExpiresAt: now.Add(s.leaseTTL()),
	}}
	if err := s.Store.OpenReservation(ctx, u.res); ErrorCode(err) == ENOTFOUND {
		return nil, s.goneUnder(ctx, c) // deleted since the key was checked
	} else if err != nil {
		// It may have been stored all the same: nothing renews it, so it
		// lapses and the sweep releases it.
		return nil, err
	}
	s.leases.addReservation(u.res.ID)
	if err := u.attachIdempotency(ctx); err != nil {
		u.Abort()
		return nil, err
	}
	return u, nil
}

// reserveAnnounced reserves, before the first file's bytes are read, what
// the Content-Length says the files can hold: ask for the whole request (it
// bounds the files) but insist only on what the files must have.
func (u *Upload) reserveAnnounced(ctx context.Context) error {
	cl := u.req.ContentLength
	if cl <= 0 || u.announcedHeld {
		return nil
	}
	u.announcedHeld = true
	want := min(cl, u.s.maxDatasetSize())
	return u.reserve(ctx, max(cl-MultipartSlack, 0), want)
}

// Announce tells the upload how many file bytes the request announces: its
// Content-Length less its multipart framing, as the HTTP layer reads it. A
// quota refusal names this size (the file's own terms) rather than the
// Content-Length less the framing slack the decision must allow for.
func (u *Upload) Announce(fileBytes int64) {
	if fileBytes > 0 {
		u.announced = fileBytes
	}
}

func (s *Service) tooLarge() error {
	return Errorf(EINVALID, "The dataset is too large: a dataset may hold at most %d bytes (%s) in all its files.", s.maxDatasetSize(), FormatSize(s.maxDatasetSize()))
}

// reserve grows the reservation by at least need and at most want bytes.
// A refusal names what the whole upload asks for and what others hold.
func (u *Upload) reserve(ctx context.Context, need, want int64) error {
	if err := u.s.Disk.Fits(need); err != nil {
		return err // the local disk would fill up (embedded mode)
	}
	got, err := u.s.Store.Reserve(ctx, u.res.ID, need, max(need, want))
	err = u.lost(ctx, err)
	var qe *QuotaError
	if errors.As(err, &qe) {
		qe.ReservedBytes -= u.held
		qe.RequestedBytes = max(u.held+need, u.announced)
		return qe
	}
	if err != nil {
		return err
	}
	u.held += got
	return nil
}

// step is how much to reserve ahead while streaming a file of unknown
// size: it starts small and doubles with what the upload already holds
// (as TCP's slow start), so that a small file never holds much more than
// its size against the quota, while a large one needs few round trips to
// the store. Near the limit the store grants only what is left.
func (u *Upload) step() int64 {
	maxStep := u.s.ReserveStep
	if maxStep <= 0 {
		maxStep = DefaultReserveStep
	}
	return min(max(u.held, minReserveStep), maxStep)
}

const minReserveStep = 64 << 10

// AddFile streams one uploaded file into the blob store, hashing it and
// reserving quota as its bytes arrive (pipeline.go). An empty eval file
// counts as absent, as Cohere's own Go sample sends one. A reader that is
// also a ChunkReader hands its buffers on without a copy.
func (u *Upload) AddFile(ctx context.Context, kind PartKind, filename string, r io.Reader) error {
	src, ok := r.(ChunkReader)
	if !ok {
		src = &readerChunks{r: r}
	}
	err := u.addChunks(ctx, kind, filename, src)
	if ErrorCode(err) == EINTERNAL {
		// A purge made the upload's blob garbage and the sweep took it
		// from under the write: the deletion is the answer.
		if gone := u.s.deletedUnder(ctx, u.res.OrgID, u.res.ProjectID); gone != nil {
			return gone
		}
	}
	return err
}

// deletedUnder is the answer to a create (or an upload) whose organisation,
// or project, is known to be gone: a purge ran under it. nil if both still
// exist.
func (s *Service) deletedUnder(ctx context.Context, orgID, projectID string) error {
	if _, err := s.Store.Org(ctx, orgID); ErrorCode(err) == ENOTFOUND {
		return orgGone()
	}
	if projectID == "" {
		return nil
	}
	if _, err := s.Store.Project(ctx, projectID); ErrorCode(err) == ENOTFOUND {
		return projectGone()
	}
	return nil
}

// goneUnder is the answer to a store call that found the caller's
// organisation, or project, gone since its key was checked.
func (s *Service) goneUnder(ctx context.Context, c *Caller) error {
	if gone := s.deletedUnder(ctx, c.OrgID(), c.ProjectID()); gone != nil {
		return gone
	}
	return orgGone()
}

// jsObject is what JavaScript's String() makes of an object: the Cohere
// TypeScript SDK sends it as the file when given a stream or a {path}
// object rather than a Blob or File. No real dataset is exactly this.
const jsObject = "[object Object]"

var partNames = map[PartKind]string{PartTrain: "data", PartEval: "eval_data"}

// formatOf picks a file's format from its name's extension when it has a
// known one; otherwise (sniffed) a file whose first non-blank byte is '{'
// is JSONL and any other CSV.
func formatOf(filename string, head []byte) (f Format, sniffed bool) {
	if f, _, _ := FormatOfName(filename); f != "" {
		return f, false
	}
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	head = bytes.TrimLeft(head, " \t\r\n")
	if len(head) > 0 && head[0] == '{' {
		return FormatJSONL, true
	}
	return FormatCSV, true
}

// Commit records the dataset: from the moment this returns nil the dataset
// is durable and counted in usage, on every node.
func (u *Upload) Commit(ctx context.Context) (*Dataset, error) {
	// The training file is part 0, the eval file part 1, whatever order the
	// client sent them in.
	switch {
	case len(u.parts) > 0 && u.parts[0].Kind == PartTrain:
	case len(u.parts) > 1 && u.parts[1].Kind == PartTrain:
		u.parts[0], u.parts[1] = u.parts[1], u.parts[0]
	default:
		return nil, Errorf(EINVALID, "The upload has no data part: send the file as a multipart/form-data part named data (or file).")
	}
	var total int64
	for i := range u.parts {
		p := &u.parts[i]
		p.Index = i
		p.Name = p.Filename
		if p.Name == "" || p.Name == "." || p.Name == "/" {
			p.Name = map[PartKind]string{PartTrain: "data", PartEval: "eval_data"}[p.Kind]
		}
		total += p.SizeBytes
	}
	now := u.s.now()
	d := &Dataset{
		OrgID: u.res.OrgID, ProjectID: u.res.ProjectID, Name: u.req.Name, Type: u.req.Type, Status: StatusQueued,
		CreatedAt: now, UpdatedAt: now, ClientName: u.caller.ClientName, KeyID: u.caller.Key.ID,
		Params: u.req.Params, SizeBytes: total, Parts: u.parts, IdempotencyKey: u.req.IdempotencyKey,
	}
	if u.s.Retention > 0 {
		exp := now.Add(u.s.Retention)
		d.ExpiresAt = &exp
	}
	for attempt := 0; ; attempt++ {
		d.ID = NewDatasetID(d.Name)
		err := u.s.Store.CreateDataset(ctx, d, u.res.ID)
		if err == nil {
			break
		}
		if ErrorCode(err) == ECONFLICT && attempt < 5 {
			continue // an id collision: draw again
		}
		if ErrorCode(err) == ENOTFOUND {
			return nil, u.lost(ctx, err)
		}
		// The commit's outcome may be unknown (a connection lost while
		// committing): find out before answering, so that an error answer
		// other than 504 always means nothing was stored.
		stored, serr := u.settle(ctx, d)
		if serr != nil {
			return nil, serr
		}
		if !stored {
			u.s.log().Warn("a create failed in the store; nothing was stored", "org", d.OrgID, "err", err)
			return nil, nothingStored(err)
		}
		break
	}
	u.s.eventsCommitted()
	u.done = true
	u.s.leases.dropReservation(u.res.ID)
	u.s.notifyJob()
	u.s.log().Info("dataset created", "org", d.OrgID, "dataset", d.ID, "bytes", d.SizeBytes, "type", d.Type)
	return d, nil
}

// lost explains an upload whose reservation is gone (ENOTFOUND; other
// errors pass unchanged). Its organisation or its project was deleted
// under it (a purge releases their reservations), or else this node could
// not renew the lease for a whole lease period and a sweep released it.
// Either way nothing of the upload is kept.
func (u *Upload) lost(ctx context.Context, err error) error {
	if ErrorCode(err) != ENOTFOUND {
		return err
	}
	if gone := u.s.deletedUnder(ctx, u.res.OrgID, u.res.ProjectID); gone != nil {
		return gone
	}
	return Errorf(EUNAVAILABLE, "the upload's quota reservation expired before it completed (the server could not reach its metadata store); nothing was stored, retry the upload")
}

// orgGone is the answer to a create (or a resumable upload's creation)
// whose organisation was deleted while it ran (its key was valid when the
// request began): 404, as for anything of a deleted org, never the store's
// foreign-key error as a 500.
func orgGone() error {
	return Errorf(ENOTFOUND, "The organization of this API key was deleted while the upload ran; nothing was stored.")
}

// projectGone is orgGone for a project purged under the upload.
func projectGone() error {
	return Errorf(ENOTFOUND, "The project of this API key was deleted while the upload ran; nothing was stored.")
}

// nothingStored is the answer to a create that failed in the store and is
// known to have stored nothing: the store's fault, not the request's, and
// a retry may succeed.
func nothingStored(err error) error {
	if ErrorCode(err) != EINTERNAL {
		return err
	}
	return Errorf(EUNAVAILABLE, "The metadata store failed while storing the dataset; nothing was stored. Retry the upload.")
}

// settle learns whether a create whose answer was an error stored d after
// all. The reservation decides: the create deletes it in the transaction
// that stores the dataset, so a release that still finds it proves nothing
// was stored (and nothing can be any more); if it is gone, the dataset is
// there unless a sweep had released the reservation first. It keeps asking
// for SettleTimeout; if the store does not answer, the outcome is unknown:
// 504, the blobs stay (the reservation's lease lapses, and its release
// makes them garbage only if no dataset committed them).
func (u *Upload) settle(ctx context.Context, d *Dataset) (bool, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), u.s.settleTimeout())
	defer cancel()
	var err error
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		var dropped bool
		dropped, err = u.s.Store.DropReservation(ctx, u.res.ID, time.Time{})
		if err == nil && dropped {
			u.done = true
			u.s.leases.dropReservation(u.res.ID)
			u.discard(ctx)
			return false, nil
		}
		if err == nil {
			_, err = u.s.Store.Dataset(ctx, d.OrgID, d.ID)
			if err == nil {
				return true, nil
			} else if ErrorCode(err) == ENOTFOUND {
				// Released by a sweep: its blobs are garbage, and every
				// write has returned, so they need not be held.
				u.endHolds()
				return false, nil
			}
		}
		select {
		case <-ctx.Done():
			u.done = true
			u.s.leases.dropReservation(u.res.ID)
			go u.endHolds() // the store is not answering: not on the answer's time
			u.s.log().Warn("a create's outcome is unknown; its reservation will lapse", "org", d.OrgID, "dataset", d.ID, "reservation", u.res.ID, "err", err)
			return false, Errorf(ETIMEOUT, "The create's outcome is unknown: the metadata store did not answer whether the dataset %s was stored. It settles by itself; retrying with the same Idempotency-Key is safe (or look for the dataset before uploading again).", d.ID)
		case <-time.After(wait):
		}
	}
}

// Abort releases the reservation and deletes what was written, once the
// store has said the blobs are garbage: the release removed the
// reservation, or it was gone already and no create of this upload took
// it (Commit marks the upload done when one did), so a purge or a sweep
// released it and made them garbage. Then their ledger rows may be held
// (see hold) while a write was in flight; every write of this upload has
// returned by now, so it deletes them itself rather than leave them to a
// sweep after the hold. It runs even when the request's context is gone (a
// client that went away). If the release fails, nothing is deleted: the
// reservation's lease lapses and the sweep releases it.
func (u *Upload) Abort() {
	if u.done {
		return
	}
	u.done = true
	defer u.s.leases.dropReservation(u.res.ID)
	ctx, cancel := bounded(context.Background())
	defer cancel()
	if _, err := u.s.Store.DropReservation(ctx, u.res.ID, time.Time{}); err != nil {
		u.s.log().Warn("releasing a reservation failed; its lease will lapse and the sweep release it", "reservation", u.res.ID, "err", err)
		// Every write of this upload has returned: once the sweep has
		// made its blobs garbage, they need not wait out a hold.
		u.endHolds()
		return
	}
	u.discard(ctx)
}

// discard deletes the blobs of an upload that ended without a dataset,
// once they are garbage. What it cannot delete now (the blob store
// failed, a backup pins it) the sweep deletes later, and need not wait out
// a hold for it: every write of this upload has returned.
func (u *Upload) discard(ctx context.Context) {
	if u.s.deleteBlobs(ctx, u.blobs) {
		u.endHolds()
	}
}
