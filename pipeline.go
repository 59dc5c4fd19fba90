package silo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"path"
	"sync"
	"time"
)

// Chunk is a run of an uploaded file's bytes in a buffer that its reader
// lends: the API's multipart reader hands its read buffers on, so a file's
// bytes are copied once, from the socket, before they are hashed and
// written. Release gives the buffer back.
type Chunk struct {
	Data []byte
	Buf  interface{ Release() } // nil: nothing to give back
}

// Release gives the chunk's buffer back to its reader.
func (c Chunk) Release() {
	if c.Buf != nil {
		c.Buf.Release()
	}
}

// ChunkReader is a file as chunks; NextChunk returns io.EOF after the
// last. AddFile takes one where it is given an io.Reader that is one.
type ChunkReader interface {
	NextChunk() (Chunk, error)
}

// pipeDepth is how many chunks may wait between two stages: enough to
// keep each stage busy, few enough that an upload holds a bounded number
// of buffers (about pipeDepth × 2 + 2 of mpart.BufSize, 1 MiB: 6 MiB).
// With 1 MiB chunks 2 keep the stages as busy as 4 did with 256 KiB.
const pipeDepth = 2

// addChunks streams one file into the blob store in three stages, so that
// a 2-core machine runs them side by side: this goroutine reads the body
// and reserves quota for each chunk before passing it on (nothing is
// written that is not reserved), a second hashes, a third (the blob
// store's Put) writes; the blob store fsyncs once at the end.
func (u *Upload) addChunks(ctx context.Context, kind PartKind, filename string, src ChunkReader) error {
	for _, p := range u.parts {
		if p.Kind == kind {
			return Errorf(EINVALID, "more than one %s file in the upload: send one data part and at most one eval_data part", kind)
		}
	}
	// What cannot be read is refused before any of it is stored or counted:
	// by its name before anything is reserved, by its first bytes before
	// anything is written.
	if err := CheckFileName(u.req.Type, kind, filename); err != nil {
		return err
	}
	if err := u.reserveAnnounced(ctx); err != nil {
		return err
	}
	head, pending, err := peekChunks(src, headSize)
	defer func() {
		for _, c := range pending {
			c.Release()
		}
	}()
	if err != nil {
		return err
	}
	if kind == PartEval && len(head) == 0 {
		return nil
	}
	if string(head) == jsObject {
		return Errorf(EINVALID, "The %s part holds only the text %q: the client sent a JavaScript object (such as fs.createReadStream(...) or {path: ...}) where the file belongs. Send the file as a Blob or File instead, e.g. await fs.openAsBlob(path) in Node.js.", partNames[kind], jsObject)
	}
	format, sniffed := formatOf(filename, head)
	if err := CheckFileHead(u.req.Type, kind, filename, format, sniffed, head[:min(len(head), 16)]); err != nil {
		return err
	}
	key := NewBlobKey()
	// The key is in the ledger before a byte is written, so a crash at any
	// point leaves nothing the sweep cannot find.
	if err := u.s.Store.AddPendingBlob(ctx, u.res.ID, u.res.OrgID, key); err != nil {
		return u.lost(ctx, err)
	}
	u.blobs = append(u.blobs, key)

	p := u.s.startPipe(ctx, key)
	rerr := u.feed(ctx, p, pending, src)
	pending = nil
	if rerr == nil {
		rerr = u.hold(ctx) // before the blob store's last request
	}
	p.end(rerr)
	n, err := p.wait()
	switch {
	case rerr == errWriterStopped && err == nil:
		return Errorf(EINTERNAL, "the blob store stopped reading the upload before its end")
	case rerr != nil && rerr != errWriterStopped:
		return rerr // the quota or size refusal, not the store's wrapping of it
	case err != nil:
		return err
	}
	u.parts = append(u.parts, Part{
		ID:        NewID("dp_"),
		Kind:      kind,
		Format:    format,
		Filename:  path.Base(filename),
		BlobKey:   key,
		SizeBytes: n,
		SHA256:    hex.EncodeToString(p.h.Sum(nil)),
	})
	return nil
}

// LateLander is a blob store whose writes can land after the writer has
// given up on them: an S3 PUT or CompleteMultipartUpload that the server
// still commits after the client's request timed out, or after the node
// that sent it died. LandingDelay bounds how late. A store without it (the
// disk: a rename, the last step of a Put, is the process's own and gone
// with it) needs no hold.
type LateLander interface {
	LandingDelay() time.Duration
}

// landingHold is how long an upload's blobs stay held in the ledger once a
// file's end has reached the blob store (0: no hold).
func (s *Service) landingHold() time.Duration {
	if l, ok := s.Blobs.(LateLander); ok {
		return l.LandingDelay()
	}
	return 0
}

// hold is asked when a file has ended, before the blob store may make its
// bytes appear. A reservation that is still there keeps the upload's blobs
// held: released from now on (an org purge, a lease that lapsed), they are
// garbage that the sweep deletes only after landingHold, once whatever was
// in flight has landed, never deleted and forgotten before it lands (an
// object no ledger row names). A reservation that is gone already means the
// blobs may be forgotten: the error stops the Put before that last request,
// and the Put removes what it wrote.
func (u *Upload) hold(ctx context.Context) error {
	d := u.s.landingHold()
	if d <= 0 {
		return nil // nothing can land late: no store write per file
	}
	now := u.s.now()
	return u.lost(ctx, u.s.Store.HoldPendingBlobs(ctx, u.res.ID, now, now.Add(d)))
}

// endHolds tells the store that every write of the upload has returned,
// for an upload that ends without a dataset and whose blobs stay in the
// ledger (its outcome unknown, or their deletion failed): once garbage,
// they need not wait out the hold. (A commit ends the holds itself.) If
// the store does not answer (a database failing over), it keeps asking in
// the background until the holds would have run out by themselves: a live
// node lets its garbage go as soon as the store is back.
func (u *Upload) endHolds() {
	if u.s.landingHold() <= 0 || len(u.blobs) == 0 {
		return // nothing was held
	}
	if u.tryEndHolds() {
		return
	}
	go func() {
		deadline := time.Now().Add(u.s.landingHold())
		for wait := 250 * time.Millisecond; time.Now().Add(wait).Before(deadline); wait = min(2*wait, 5*time.Second) {
			time.Sleep(wait)
			if u.tryEndHolds() {
				return
			}
		}
		u.s.log().Warn("ending the holds of an upload's blobs failed; they run out by themselves", "reservation", u.res.ID)
	}()
}

func (u *Upload) tryEndHolds() bool {
	ctx, cancel := bounded(context.Background())
	defer cancel()
	return u.s.Store.EndBlobHolds(ctx, u.blobs) == nil
}

// headSize is how much of a file is looked at before it is stored: its
// format and the JavaScript-object mistake are told from it.
const headSize = 4096

// peekChunks takes chunks from src until they hold n bytes or src ends,
// and returns a copy of their first n bytes with the chunks themselves.
func peekChunks(src ChunkReader, n int) ([]byte, []Chunk, error) {
	var head []byte
	var chunks []Chunk
	for len(head) < n {
		c, err := src.NextChunk()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, chunks, err
		}
		chunks = append(chunks, c)
		head = append(head, c.Data[:min(len(c.Data), n-len(head))]...)
	}
	return head, chunks, nil
}

// feed passes the file's chunks to the pipe, counting and reserving them
// first. It stops when the writer stopped.
func (u *Upload) feed(ctx context.Context, p *pipe, pending []Chunk, src ChunkReader) error {
	next := func() (Chunk, error) {
		if len(pending) > 0 {
			c := pending[0]
			pending = pending[1:]
			return c, nil
		}
		return src.NextChunk()
	}
	defer func() {
		for _, c := range pending {
			c.Release()
		}
	}()
	for {
		c, err := next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := u.count(ctx, int64(len(c.Data))); err != nil {
			c.Release()
			return err
		}
		if err := p.send(c); err != nil {
			return err
		}
	}
}

// errWriterStopped: the blob store's Put returned before the file ended
// (its own error says why).
var errWriterStopped = errors.New("the blob store stopped reading")

// count adds n received bytes to the upload, growing its reservation
// ahead of them.
func (u *Upload) count(ctx context.Context, n int64) error {
	u.size += n
	if u.size > u.s.maxDatasetSize() {
		return u.s.tooLarge()
	}
	if u.size > u.held {
		return u.reserve(ctx, u.size-u.held, u.step())
	}
	return nil
}

// pipe carries chunks from the reader through the hash to the blob
// store's Put, which reads it as an io.Reader or, if it can, through
// WriteTo, writing each chunk as it is. Uploads and the validator's Avro
// parts are written through one.
type pipe struct {
	ctx  context.Context
	in   chan Chunk    // reader → hash
	out  chan Chunk    // hash → writer
	quit chan struct{} // closed when Put returned
	done chan putResult
	h    hash.Hash
	also hash.Hash // a second hash of the same bytes, or nil
	perr error     // the reader's error; written before in is closed
	rest Chunk     // Read's part-used chunk
}

type putResult struct {
	n   int64
	err error
}

// startPipe starts the hash and the blob store's Put of key, reading what
// the pipe is sent.
func (s *Service) startPipe(ctx context.Context, key string) *pipe {
	return startPipeTo(ctx, sha256.New(), nil, func(r io.Reader) (int64, error) { return s.Blobs.Put(ctx, key, r) })
}

// startPipeTo starts a pipe whose chunks go through h (and also, if not
// nil, side by side on another goroutine: a resumable upload's checksum)
// to put, which reads them.
func startPipeTo(ctx context.Context, h, also hash.Hash, put func(io.Reader) (int64, error)) *pipe {
	p := &pipe{ctx: ctx, in: make(chan Chunk, pipeDepth), out: make(chan Chunk, pipeDepth),
		quit: make(chan struct{}), done: make(chan putResult, 1), h: h, also: also}
	go p.hash()
	go func() {
		n, err := put(p)
		close(p.quit)
		p.done <- putResult{n, err}
	}()
	return p
}

// send passes c on to the hash and the write; errWriterStopped (c
// released) if the Put has returned.
func (p *pipe) send(c Chunk) error {
	select {
	case p.in <- c:
		return nil
	case <-p.quit:
		c.Release()
		return errWriterStopped
	}
}

// end tells the writer that nothing more comes: with err nil the file
// ended and the Put stores it; otherwise the Put fails with err and
// leaves nothing.
func (p *pipe) end(err error) {
	p.perr = err
	close(p.in)
}

// wait returns the Put's outcome, once it has returned, and releases what
// it left unwritten.
func (p *pipe) wait() (int64, error) {
	r := <-p.done
	for c := range p.out {
		c.Release()
	}
	return r.n, r.err
}

func (p *pipe) hash() {
	for c := range p.in {
		if p.also != nil {
			done := make(chan struct{})
			go func() { p.also.Write(c.Data); close(done) }()
			p.h.Write(c.Data)
			<-done
		} else {
			p.h.Write(c.Data)
		}
		select {
		case p.out <- c:
		case <-p.quit:
			c.Release()
		}
	}
	close(p.out)
}

// WholeChunks tells a blob store that WriteTo writes large buffers as
// they come, so it need not copy them through its own.
func (p *pipe) WholeChunks() {}

// WriteTo writes every chunk to w as it comes.
func (p *pipe) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for c := range p.out {
		if err := p.ctx.Err(); err != nil {
			c.Release()
			return n, err
		}
		m, err := w.Write(c.Data)
		c.Release()
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	return n, p.perr
}

// Read copies the chunks into b, for blob stores that read.
func (p *pipe) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	for len(p.rest.Data) == 0 {
		p.rest.Release()
		p.rest = Chunk{}
		c, ok := <-p.out
		if !ok {
			if p.perr != nil {
				return 0, p.perr
			}
			return 0, io.EOF
		}
		p.rest = c
	}
	n := copy(b, p.rest.Data)
	p.rest.Data = p.rest.Data[n:]
	if len(p.rest.Data) == 0 {
		p.rest.Release()
		p.rest = Chunk{}
	}
	return n, nil
}

// readerChunks makes chunks of a plain io.Reader, reading it into pooled
// buffers (one copy, as any reader needs), a chunk per read.
type readerChunks struct {
	r   io.Reader
	err error
}

// readBufSize is the size of readerChunks' buffers.
const readBufSize = 256 << 10

type pooledBuf struct{ b []byte }

var readBufs = sync.Pool{New: func() any { return &pooledBuf{b: make([]byte, readBufSize)} }}

func (b *pooledBuf) Release() { readBufs.Put(b) }

func (rc *readerChunks) NextChunk() (Chunk, error) {
	if rc.err != nil {
		return Chunk{}, rc.err
	}
	b := readBufs.Get().(*pooledBuf)
	n := 0
	for n == 0 && rc.err == nil { // one read: a slow writer's bytes go on as they come
		n, rc.err = rc.r.Read(b.b)
	}
	if n == 0 {
		b.Release()
		return Chunk{}, rc.err
	}
	return Chunk{Data: b.b[:n:n], Buf: b}, nil
}
