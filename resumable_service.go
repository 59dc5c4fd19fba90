package silo

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"time"
)

// The rules of resumable uploads (tus): who may do what, the quota taken
// up front, when an offset counts, and how an upload becomes a dataset.
// The HTTP side (api/tus.go) parses headers and calls these.

// DefaultUploadTTL is how long an upload lives after its last PATCH.
const DefaultUploadTTL = 24 * time.Hour

func (s *Service) uploadTTL() time.Duration {
	if s.UploadTTL > 0 {
		return s.UploadTTL
	}
	return DefaultUploadTTL
}

func (s *Service) appender() (Appender, error) {
	a, ok := s.Blobs.(Appender)
	if !ok {
		return nil, Errorf(ENOTIMPLEMENTED, "This blob store cannot take resumable uploads.")
	}
	return a, nil
}

// NewResumable is a tus creation request.
type NewResumable struct {
	Length   int64
	Metadata string // Upload-Metadata as sent
	Partial  bool
	// Dataset is the create the metadata asks for once the upload
	// completes (name and type given), checked before anything is
	// reserved; nil if it asks for none.
	Dataset *UploadRequest
	// Filename is the metadata's filename, if any.
	Filename string
}

// CreateResumable opens an upload and reserves its whole length.
func (s *Service) CreateResumable(ctx context.Context, c *Caller, req NewResumable) (*ResumableUpload, error) {
	if err := require(c, RoleWriter); err != nil {
		return nil, err
	}
	if _, err := s.appender(); err != nil {
		return nil, err
	}
	if req.Length < 0 {
		return nil, Errorf(EINVALID, "Upload-Length must be a number of bytes, 0 or more.")
	}
	if req.Length > s.maxDatasetSize() {
		return nil, Errorf(ETOOLARGE, "The upload is too large: a dataset may hold at most %d bytes (%s); this upload is %d bytes.", s.maxDatasetSize(), FormatSize(s.maxDatasetSize()), req.Length)
	}
	if d := req.Dataset; d != nil {
		if err := CheckUpload(*d); err != nil {
			return nil, err
		}
		if err := CheckFileName(d.Type, PartTrain, req.Filename); err != nil {
			return nil, err
		}
	}
	if err := s.Disk.Fits(req.Length); err != nil {
		return nil, err
	}
	now := s.now()
	u := &ResumableUpload{
		ID: NewID("up_"), OrgID: c.OrgID(), ProjectID: c.ProjectID(), KeyID: c.Key.ID, ReservationID: NewID("res_"),
		Length: req.Length, Metadata: req.Metadata, Partial: req.Partial, BlobKey: NewBlobKey(),
		HashState: hashState(sha256.New()), CreatedAt: now, ExpiresAt: now.Add(s.uploadTTL()),
	}
	if err := s.Store.CreateUpload(ctx, u); ErrorCode(err) == ENOTFOUND {
		return nil, s.goneUnder(ctx, c) // deleted since the key was checked
	} else if err != nil {
		return nil, err
	}
	s.log().Info("resumable upload opened", "org", u.OrgID, "upload", u.ID, "bytes", u.Length)
	return u, nil
}

func hashState(h hash.Hash) []byte {
	b, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		panic(err) // crypto/sha256 always marshals
	}
	return b
}

// ResumableUpload returns one of the caller's org's uploads (HEAD).
func (s *Service) ResumableUpload(ctx context.Context, c *Caller, id string) (*ResumableUpload, error) {
	if err := require(c, RoleReader); err != nil {
		return nil, err
	}
	return s.liveUpload(ctx, c, id)
}

// liveUpload reads one of the caller's uploads that has not expired: one
// past its expiry is gone for every method, whether or not the sweep has
// removed it yet; another project's is not found, as another org's.
func (s *Service) liveUpload(ctx context.Context, c *Caller, id string) (*ResumableUpload, error) {
	u, err := s.Store.Upload(ctx, c.OrgID(), id)
	if ErrorCode(err) == ENOTFOUND || err == nil && (s.expired(u) || !c.sees(u.ProjectID)) {
		return nil, Errorf(ENOTFOUND, "upload not found")
	}
	return u, err
}

// checkUploadProject is, for a project key, the not-found of another
// project's upload, before the upload's lock is taken (an upload's project
// never changes, so the read holds for the lock).
func (s *Service) checkUploadProject(ctx context.Context, c *Caller, id string) error {
	if c.ProjectID() == "" {
		return nil
	}
	_, err := s.liveUpload(ctx, c, id)
	return err
}

func (s *Service) expired(u *ResumableUpload) bool { return !u.ExpiresAt.After(s.now()) }

// resumeHash is the SHA-256 of an upload's first Offset bytes, ready for
// the bytes after them.
func resumeHash(u *ResumableUpload) (hash.Hash, error) {
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(u.HashState); err != nil {
		return nil, fmt.Errorf("upload %s: hash state: %w", u.ID, err)
	}
	return h, nil
}

// ResumableUploads lists the caller's org's uploads that are not datasets.
func (s *Service) ResumableUploads(ctx context.Context, c *Caller) ([]*ResumableUpload, error) {
	if err := require(c, RoleReader); err != nil {
		return nil, err
	}
	us, err := s.Store.Uploads(ctx, c.OrgID())
	if err != nil {
		return nil, err
	}
	live := us[:0]
	for _, u := range us {
		if !s.expired(u) && c.sees(u.ProjectID) {
			live = append(live, u)
		}
	}
	return live, nil
}

// Checksum is the Upload-Checksum of a PATCH.
type Checksum struct {
	New func() hash.Hash
	Sum []byte
}

// Patch is one PATCH of an upload.
type Patch struct {
	ID       string
	Offset   int64     // Upload-Offset
	Body     io.Reader // the bytes
	Checksum *Checksum // nil: none sent
	// Length is the body's Content-Length, -1 if unknown: a body that
	// cannot fit is refused before it is read.
	Length int64
}

// AppendResumable appends a PATCH's body to the upload and records the new
// offset once the bytes are durable: only then is it answered. A body cut
// off part-way keeps what arrived, unless it carries a checksum (then it is
// all or nothing). The upload is locked for the PATCH's duration, on every
// node; the lock's lease is renewed while the body streams, and the
// write stops if it is lost.
func (s *Service) AppendResumable(ctx context.Context, c *Caller, p Patch) (*ResumableUpload, error) {
	if err := require(c, RoleWriter); err != nil {
		return nil, err
	}
	app, err := s.appender()
	if err != nil {
		return nil, err
	}
	if err := s.checkUploadProject(ctx, c, p.ID); err != nil {
		return nil, err
	}
	owner := s.Node + "/" + NewID("")
	now := s.now()
	u, err := s.Store.LockUpload(ctx, c.OrgID(), p.ID, owner, now, now.Add(s.leaseTTL()))
	if err != nil {
		return nil, err
	}
	defer func() {
		uctx, cancel := bounded(ctx)
		defer cancel()
		if err := s.Store.UnlockUpload(uctx, u.ID, owner); err != nil {
			s.log().Warn("unlocking an upload failed; its lock lapses", "upload", u.ID, "err", err)
		}
	}()
	if s.expired(u) {
		return nil, Errorf(ENOTFOUND, "upload not found")
	}
	if p.Offset != u.Offset {
		return nil, Errorf(ECONFLICT, "Upload-Offset %d is not the upload's offset %d: ask with HEAD where to resume.", p.Offset, u.Offset)
	}
	if u.Complete() {
		return u, nil // nothing to add; a retried last PATCH
	}
	if p.Length > u.Length-u.Offset {
		return nil, Errorf(ETOOLARGE, "The body (%d bytes) does not fit the upload: %d of its %d bytes are left.", p.Length, u.Length-u.Offset, u.Length)
	}
	h, err := resumeHash(u)
	if err != nil {
		return nil, err
	}
	var check hash.Hash
	if p.Checksum != nil {
		check = p.Checksum.New()
	}
	body := &patchBody{r: p.Body}
	state, n, err := s.writePiece(ctx, app, u, owner, body, h, check)
	if body.err == nil && err != nil {
		if ErrorCode(err) == EINTERNAL {
			// A purge made the upload's blob garbage and the sweep took it
			// from under the write: the deletion is the answer.
			if gone := s.deletedUnder(ctx, c.OrgID(), c.ProjectID()); gone != nil {
				return nil, gone
			}
		}
		return nil, err // the blob store failed: nothing of the body counts
	}
	if body.err == nil && u.Offset+n == u.Length && body.more() {
		return nil, Errorf(ETOOLARGE, "The body is longer than the %d bytes the upload has left; nothing of it was kept.", u.Length-u.Offset)
	}
	if p.Checksum != nil {
		switch {
		case body.err != nil:
			return nil, body.err // with a checksum, all or nothing
		case !bytes.Equal(check.Sum(nil), p.Checksum.Sum):
			return nil, Errorf(ECHECKSUM, "The body's checksum does not match Upload-Checksum; nothing of it was kept.")
		}
	}
	if n > 0 {
		from := u.Offset
		u.Offset += n
		u.BlobState, u.HashState = state, hashState(h)
		now := s.now()
		u.ExpiresAt = now.Add(s.uploadTTL())
		rctx, cancel := bounded(ctx) // what arrived is kept even if the client left
		err := s.Store.AdvanceUpload(rctx, u, owner, from, now)
		cancel()
		if ErrorCode(err) == ENOTFOUND {
			return nil, Errorf(ECONFLICT, "The upload changed while this PATCH ran (terminated, or taken over after its lock lapsed); ask with HEAD where to resume.")
		} else if err != nil {
			return nil, err
		}
	}
	if body.err != nil {
		return nil, body.err
	}
	if u.Complete() {
		if err := app.Seal(ctx, u.BlobKey, u.BlobState, u.Length); err != nil {
			return nil, err
		}
		s.log().Info("resumable upload complete", "org", u.OrgID, "upload", u.ID, "bytes", u.Length)
	}
	return u, nil
}

// writePiece streams a PATCH's body into the upload's blob after its
// offset, in three stages as a create does (pipeline.go): this goroutine
// reads the body, another hashes it (the file's SHA-256 h and the checksum
// side by side), the blob store writes it. It returns the blob store's new
// state and the bytes stored; a failure of the body itself is body.err.
func (s *Service) writePiece(ctx context.Context, app Appender, u *ResumableUpload, owner string, body *patchBody, h, check hash.Hash) ([]byte, int64, error) {
	// Not cancelled when the client goes away (its body's read fails then
	// anyway): every chunk that was hashed must reach the blob store, or
	// the SHA-256 recorded with the offset would cover bytes not stored.
	// Only a lost lock stops the write, and then nothing is recorded.
	actx, stop := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stop(nil)
	go s.holdUploadLock(actx, stop, u, owner)
	var state []byte
	pp := startPipeTo(actx, h, check, func(r io.Reader) (n int64, err error) {
		state, n, err = app.Append(actx, u.BlobKey, u.BlobState, u.Offset, u.Length, r)
		return n, err
	})
	rerr := feedPipe(pp, &readerChunks{r: io.LimitReader(body, u.Length-u.Offset)})
	pp.end(rerr)
	n, err := pp.wait()
	if cause := context.Cause(actx); cause != nil && errors.Is(err, context.Canceled) {
		err = cause
	}
	return state, n, err
}

// holdUploadLock renews a PATCH's lock while it runs; if the lock is lost
// (the store said so), the write stops: another request may own the
// upload now.
func (s *Service) holdUploadLock(ctx context.Context, stop context.CancelCauseFunc, u *ResumableUpload, owner string) {
	every := s.leaseTTL() / 3
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		now := s.now()
		_, err := s.Store.LockUpload(ctx, u.OrgID, u.ID, owner, now, now.Add(s.leaseTTL()))
		switch ErrorCode(err) {
		case "":
		case ELOCKED, ENOTFOUND:
			stop(Errorf(ECONFLICT, "The upload was taken over or terminated while this PATCH ran; ask with HEAD where to resume."))
			return
		default:
			s.log().Warn("renewing an upload's lock failed", "upload", u.ID, "err", err)
		}
	}
}

// patchBody is a PATCH's body; it keeps the body's own error (not io.EOF)
// apart from the blob store's.
type patchBody struct {
	r   io.Reader
	err error
}

func (b *patchBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// feedPipe sends src's chunks into p until src ends; errWriterStopped if
// the writer returned first.
func feedPipe(p *pipe, src ChunkReader) error {
	for {
		c, err := src.NextChunk()
		if err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if err := p.send(c); err != nil {
			return err
		}
	}
}

// more reports whether the body has bytes past what was read.
func (b *patchBody) more() bool {
	var one [1]byte
	for {
		n, err := b.r.Read(one[:])
		if n > 0 {
			return true
		}
		if err != nil {
			return false
		}
	}
}

// TerminateResumable deletes an upload: its bytes go, its reservation is
// released at once. An upload that became a dataset only forgets it.
func (s *Service) TerminateResumable(ctx context.Context, c *Caller, id string) error {
	if err := require(c, RoleWriter); err != nil {
		return err
	}
	// Taken like a PATCH takes it: a PATCH still writing would otherwise
	// go on writing bytes whose ledger row the delete removes.
	now := s.now()
	if err := s.checkUploadProject(ctx, c, id); err != nil {
		return err
	}
	u, err := s.Store.LockUpload(ctx, c.OrgID(), id, s.Node+"/terminate", now, now.Add(s.leaseTTL()))
	if err != nil {
		return err
	}
	if err := s.Store.DeleteUpload(ctx, c.OrgID(), id); err != nil {
		return err
	}
	if u.DatasetID == "" {
		s.deleteBlobs(ctx, []string{u.BlobKey})
	}
	s.log().Info("resumable upload terminated", "org", u.OrgID, "upload", u.ID, "bytes", u.Length)
	return nil
}

// ConcatResumable joins complete partial uploads (ids, in order) into a
// final upload, without holding their bytes twice against the quota: the
// final takes their reservations. Their blobs are joined into the final
// one (joinBlobs; the partials' then go); the metadata's dataset, if any,
// is the caller's next step.
func (s *Service) ConcatResumable(ctx context.Context, c *Caller, req NewResumable, ids []string) (*ResumableUpload, error) {
	if err := require(c, RoleWriter); err != nil {
		return nil, err
	}
	app, err := s.appender()
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, Errorf(EINVALID, "Upload-Concat: final needs the URLs of the partial uploads to join.")
	}
	var parts []*ResumableUpload
	var length int64
	for _, id := range ids {
		u, err := s.liveUpload(ctx, c, id)
		if ErrorCode(err) == ENOTFOUND {
			return nil, Errorf(EINVALID, "Upload-Concat names the upload %s, which does not exist.", id)
		} else if err != nil {
			return nil, err
		}
		if !u.Partial || !u.Complete() {
			return nil, Errorf(EINVALID, "Upload-Concat names the upload %s, which is not a complete partial upload (%d of %d bytes).", id, u.Offset, u.Length)
		}
		if err := app.Seal(ctx, u.BlobKey, u.BlobState, u.Length); err != nil {
			return nil, err
		}
		parts = append(parts, u)
		length += u.Length
	}
	if d := req.Dataset; d != nil {
		if err := CheckUpload(*d); err != nil {
			return nil, err
		}
	}
	now := s.now()
	final := &ResumableUpload{
		ID: NewID("up_"), OrgID: c.OrgID(), ProjectID: c.ProjectID(), KeyID: c.Key.ID, Length: length, Offset: length,
		Metadata: req.Metadata, BlobKey: NewBlobKey(), CreatedAt: now, ExpiresAt: now.Add(s.uploadTTL()),
	}
	// The final blob is in the ledger, pending under the first partial's
	// reservation, before a byte of it is written: a crash leaves nothing
	// that the partial's expiry does not collect.
	if err := s.Store.AddPendingBlob(ctx, parts[0].ReservationID, c.OrgID(), final.BlobKey); err != nil {
		return nil, err
	}
	keys := make([]string, len(parts))
	for i, p := range parts {
		keys[i] = p.BlobKey
	}
	h, err := s.joinBlobs(ctx, final.BlobKey, keys, length)
	if err != nil {
		return nil, err
	}
	final.HashState = hashState(h)
	if err := s.Store.ConcatUploads(ctx, final, ids); err != nil {
		return nil, err
	}
	s.deleteBlobs(ctx, keys)
	s.log().Info("resumable uploads concatenated", "org", final.OrgID, "upload", final.ID, "parts", len(parts), "bytes", final.Length)
	return final, nil
}

// joinBlobs stores under key the blobs keys, one after another (length
// bytes in all), and returns their SHA-256: the final upload's, so that a
// dataset made of it has its part's sum at creation as any other. A blob
// store that can join (Joiner) copies the bytes inside itself while silo
// reads the same blobs once beside it, for the hash alone (sumBlobs); one
// that cannot has them copied through the create's pipeline, read, hashed
// and written on three goroutines. Either way the sum is of the partials
// as they were stored, so fsck checks the join against it.
func (s *Service) joinBlobs(ctx context.Context, key string, keys []string, length int64) (hash.Hash, error) {
	h := sha256.New()
	j, ok := s.Blobs.(Joiner)
	if !ok {
		pp := startPipeTo(ctx, h, nil, func(r io.Reader) (int64, error) { return s.Blobs.Put(ctx, key, r) })
		rerr := feedPipe(pp, &readerChunks{r: JoinedReader(ctx, s.Blobs, keys)})
		pp.end(rerr)
		if n, err := pp.wait(); err != nil || rerr != nil {
			return nil, cmp.Or(err, rerr)
		} else if n != length {
			s.dropJoined(ctx, key)
			return nil, fmt.Errorf("join of %d uploads into %s: %d bytes, not %d", len(keys), key, n, length)
		}
		return h, nil
	}
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	summed := make(chan error, 1)
	go func() {
		err := sumBlobs(jctx, s.Blobs, keys, length, h)
		if err != nil {
			cancel(err) // the join stops too and leaves nothing
		}
		summed <- err
	}()
	n, err := j.Join(jctx, key, keys)
	if err != nil {
		cancel(err)
	}
	herr := <-summed
	switch {
	case err != nil:
		return nil, cmp.Or(context.Cause(jctx), err)
	case herr != nil:
		s.dropJoined(ctx, key)
		return nil, herr
	case n != length:
		s.dropJoined(ctx, key)
		return nil, fmt.Errorf("join of %d uploads into %s: %d bytes, not %d", len(keys), key, n, length)
	}
	return h, nil
}

// sumBlobs writes the blobs keys, one after another, to h, in reads of
// 1 MiB, and checks that they hold length bytes.
func sumBlobs(ctx context.Context, b BlobStore, keys []string, length int64, h hash.Hash) error {
	n, err := io.CopyBuffer(h, JoinedReader(ctx, b, keys), make([]byte, 1<<20))
	if err != nil {
		return err
	}
	if n != length {
		return fmt.Errorf("the %d uploads to join hold %d bytes, not %d", len(keys), n, length)
	}
	return nil
}

// dropJoined deletes a joined blob that the concatenation will not use. It
// stays pending in the ledger (under the first partial's reservation),
// which collects it if this delete fails.
func (s *Service) dropJoined(ctx context.Context, key string) {
	dctx, cancel := bounded(ctx)
	defer cancel()
	if err := s.Blobs.Delete(dctx, key); err != nil {
		s.log().Warn("delete of an unused joined blob failed; the ledger keeps it", "blob", key, "err", err)
	}
}

// JoinedReader reads the blobs keys one after another, opening each only
// when the one before has ended.
func JoinedReader(ctx context.Context, b BlobStore, keys []string) io.Reader {
	return &joinedReader{ctx: ctx, b: b, keys: keys}
}

type joinedReader struct {
	ctx  context.Context
	b    BlobStore
	keys []string
	cur  io.ReadCloser
}

func (r *joinedReader) Read(p []byte) (int, error) {
	for {
		if r.cur == nil {
			if len(r.keys) == 0 {
				return 0, io.EOF
			}
			rc, err := r.b.Open(r.ctx, r.keys[0], 0, -1)
			if err != nil {
				return 0, err
			}
			r.cur, r.keys = rc, r.keys[1:]
		}
		n, err := r.cur.Read(p)
		if err == io.EOF {
			r.cur.Close()
			r.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

// DatasetFromUploads makes a dataset of complete uploads: ids[0] the data
// file, ids[1] (optional) the eval file. The bytes stay where they are (the
// parts are the uploads' blobs); the reservations become usage in the
// transaction that records the dataset. Asked again for an upload that is
// already a dataset, it answers with that dataset (a client whose answer
// was lost learns the outcome). filename tells an upload's file name (its
// metadata's, which is the protocol's business), "" for none.
func (s *Service) DatasetFromUploads(ctx context.Context, c *Caller, req UploadRequest, filename func(*ResumableUpload) string, ids []string) (*Dataset, error) {
	if err := require(c, RoleWriter); err != nil {
		return nil, err
	}
	if err := CheckUpload(req); err != nil {
		return nil, err
	}
	app, err := s.appender()
	if err != nil {
		return nil, err
	}
	var parts []Part
	var total int64
	for i, id := range ids {
		u, err := s.liveUpload(ctx, c, id)
		if ErrorCode(err) == ENOTFOUND {
			if gone := s.deletedUnder(ctx, c.OrgID(), c.ProjectID()); gone != nil {
				return nil, gone // purged under a last PATCH: 404, as the upload's URL is now
			}
			return nil, Errorf(EINVALID, "The upload %s does not exist (or expired).", id)
		} else if err != nil {
			return nil, err
		}
		if u.DatasetID != "" && i == 0 {
			return s.Store.Dataset(ctx, c.OrgID(), u.DatasetID)
		}
		if !u.Complete() || u.Partial {
			return nil, Errorf(EINVALID, "The upload %s is not complete (%d of %d bytes) or is a partial upload.", id, u.Offset, u.Length)
		}
		if err := app.Seal(ctx, u.BlobKey, u.BlobState, u.Length); err != nil {
			return nil, err
		}
		kind := []PartKind{PartTrain, PartEval}[i]
		p, err := s.uploadPart(ctx, req.Type, kind, filename(u), u)
		if err != nil {
			return nil, err
		}
		p.Index = i
		parts = append(parts, *p)
		total += p.SizeBytes
	}
	now := s.now()
	d := &Dataset{
		ID: NewDatasetID(req.Name), OrgID: c.OrgID(), ProjectID: c.ProjectID(), Name: req.Name, Type: req.Type, Status: StatusQueued,
		CreatedAt: now, UpdatedAt: now, ClientName: c.ClientName, KeyID: c.Key.ID,
		Params: req.Params, SizeBytes: total, Parts: parts,
	}
	if s.Retention > 0 {
		exp := now.Add(s.Retention)
		d.ExpiresAt = &exp
	}
	if err := s.Store.CreateDatasetFromUploads(ctx, d, ids); err != nil {
		return nil, err
	}
	s.eventsCommitted()
	s.notifyJob()
	s.log().Info("dataset created from uploads", "org", d.OrgID, "dataset", d.ID, "bytes", d.SizeBytes, "type", d.Type)
	return d, nil
}

// uploadPart checks an upload's file as a create checks one (its name,
// then its first bytes) and describes it as a part.
func (s *Service) uploadPart(ctx context.Context, t DatasetType, kind PartKind, filename string, u *ResumableUpload) (*Part, error) {
	if err := CheckFileName(t, kind, filename); err != nil {
		return nil, err
	}
	rc, err := s.Blobs.Open(ctx, u.BlobKey, 0, headSize)
	if err != nil {
		return nil, err
	}
	head, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, err
	}
	if string(head) == jsObject {
		return nil, Errorf(EINVALID, "The upload holds only the text %q: the client sent a JavaScript object where the file belongs.", jsObject)
	}
	format, sniffed := formatOf(filename, head)
	if err := CheckFileHead(t, kind, filename, format, sniffed, head[:min(len(head), 16)]); err != nil {
		return nil, err
	}
	h, err := resumeHash(u)
	if err != nil {
		return nil, err
	}
	base, name := "", partNames[kind]
	if filename != "" {
		base = path.Base(filename)
		name = base
	}
	return &Part{
		ID: NewID("dp_"), Kind: kind, Format: format, Filename: base, Name: name,
		BlobKey: u.BlobKey, SizeBytes: u.Length, SHA256: hex.EncodeToString(h.Sum(nil)),
	}, nil
}

// sweepUploads removes uploads past their expiry: their reservations go
// back, their bytes are deleted; an upload that became a dataset is only
// forgotten.
func (s *Service) sweepUploads(ctx context.Context) error {
	expired, err := s.Store.ExpiredUploads(ctx, s.now(), 100)
	if err != nil {
		return err
	}
	for _, u := range expired {
		// A PATCH still running (it began before the expiry) finishes
		// first: the lock says so.
		now := s.now()
		if _, err := s.Store.LockUpload(ctx, u.OrgID, u.ID, s.Node+"/sweep", now, now.Add(s.leaseTTL())); ErrorCode(err) == ELOCKED || ErrorCode(err) == ENOTFOUND {
			continue
		} else if err != nil {
			return err
		}
		err := s.Store.DeleteUpload(ctx, u.OrgID, u.ID)
		if ErrorCode(err) == ENOTFOUND {
			continue
		} else if err != nil {
			return err
		}
		if u.DatasetID == "" {
			s.deleteBlobs(ctx, []string{u.BlobKey})
			s.log().Info("resumable upload expired", "org", u.OrgID, "upload", u.ID, "bytes", u.Length, "offset", u.Offset)
		}
	}
	return nil
}
