// Package mpart reads a multipart/form-data body the way mime/multipart
// does, but for large uploads: it reads the connection into 1 MiB
// buffers, finds the boundary with one bytes.Index over the whole window
// (vectorised; mime/multipart scans 4 KiB at a time) and hands the part's
// bytes on as slices of those buffers, so a file's bytes are copied once,
// from the socket into the buffer, and then only hashed and written.
//
// What it accepts and refuses is mime/multipart's (NextPart, with
// quoted-printable parts decoded), checked by FuzzReader against it, with
// one addition: all part headers together may hold at most MaxHeaderBytes.
package mpart

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/textproto"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
)

// BufSize is the size of each read buffer: the window the boundary is
// searched in, and the most a chunk holds. 1 MiB rather than 256 KiB: a
// fast sender fills it in one read(2), and each chunk costs a read, a
// write and two goroutine hand-offs (thread wake-ups, dear in a VM), so
// 4× fewer chunks took a 1 GiB upload's server CPU from 2.35 to 1.74 s.
const BufSize = 1 << 20

// MaxHeaderBytes bounds the part headers of a body, all parts together, so
// that a client cannot make the server parse megabytes of headers.
const MaxHeaderBytes = 64 << 10

// maxLine is the longest boundary (or preamble) line accepted: mime/multipart
// reads those lines through a 4 KiB bufio.Reader and fails on longer ones.
const maxLine = 4096

// ErrHeaderTooLarge: the part headers went over MaxHeaderBytes.
var ErrHeaderTooLarge = errors.New("multipart: part headers exceed 64 KiB in all")

// buffer is a pooled read buffer shared by the reader and the chunks it
// handed out; it goes back to the pool when the last of them lets go.
type buffer struct {
	b    []byte
	refs atomic.Int32
}

var pool = sync.Pool{New: func() any { return &buffer{b: make([]byte, BufSize)} }}

// getBuffer takes a buffer of the given size: from the pool if it is
// BufSize (other sizes are for tests).
func getBuffer(size int) *buffer {
	var b *buffer
	if size == BufSize {
		b = pool.Get().(*buffer)
	} else {
		b = &buffer{b: make([]byte, size)}
	}
	b.refs.Store(1)
	return b
}

// Release gives back one reference; the last one returns the buffer.
func (b *buffer) Release() {
	if b.refs.Add(-1) == 0 && len(b.b) == BufSize {
		pool.Put(b)
	}
}

// Chunk is a run of a part's bytes in a pooled buffer. The bytes stay
// valid until Release, which must be called exactly once.
type Chunk struct {
	Data []byte
	buf  *buffer
}

// Buffer is what Release releases, for a caller that keeps the chunk's
// bytes and its release apart.
func (c Chunk) Buffer() interface{ Release() } { return c.buf }

// Release lets the chunk's buffer be reused.
func (c Chunk) Release() {
	if c.buf != nil {
		c.buf.Release()
	}
}

// Reader iterates over the parts of a multipart body.
type Reader struct {
	src  io.Reader
	size int     // of each buffer
	buf  *buffer // the reader's own reference; nil before the first read and after Close
	r, w int     // unread bytes are buf.b[r:w]
	err  error   // what src returned last; sticky

	nl               []byte // "\r\n" or "\n" (set after the first boundary line)
	nlDashBoundary   []byte // nl + "--boundary"
	dashBoundaryDash []byte // "--boundary--"
	dashBoundary     []byte // "--boundary"

	cur         *Part
	partsRead   int
	headerBytes int
}

// NewReader reads the multipart body src with the given boundary.
func NewReader(src io.Reader, boundary string) *Reader {
	return newReaderSize(src, boundary, BufSize)
}

// newReaderSize reads with buffers of size bytes; it must be more than
// twice maxLine.
func newReaderSize(src io.Reader, boundary string, size int) *Reader {
	b := []byte("\r\n--" + boundary + "--")
	return &Reader{
		src:              src,
		size:             size,
		nl:               b[:2],
		nlDashBoundary:   b[:len(b)-2],
		dashBoundaryDash: b[2:],
		dashBoundary:     b[2 : len(b)-2],
	}
}

// Close returns the reader's buffer to the pool. Chunks already handed
// out stay valid until released.
func (mr *Reader) Close() {
	if mr.buf != nil {
		mr.buf.Release()
		mr.buf = nil
	}
	if mr.err == nil {
		mr.err = errors.New("multipart: reader closed")
	}
}

// errWindow: a line, header block or boundary fills a whole buffer. With
// BufSize buffers it cannot happen (lines end within maxLine, headers
// within MaxHeaderBytes); only tests use smaller ones.
var errWindow = errors.New("multipart: a line or header block fills the whole read buffer")

// more reads from src into the buffer. A full
// buffer moves its unread tail (a possible boundary, a header being read:
// never more than MaxHeaderBytes) to a fresh one; chunks handed out keep
// the old one alive. It returns errWindow if the unread bytes fill the
// whole buffer, else nil (mr.err holds what src said).
func (mr *Reader) more() error {
	if mr.err != nil {
		return nil
	}
	switch {
	case mr.buf != nil && mr.r == 0 && mr.w == len(mr.buf.b):
		return errWindow
	case mr.buf == nil:
		mr.buf = getBuffer(mr.size)
	case len(mr.buf.b)-mr.w < mr.size/4 && mr.r > 0:
		// Too little room left for a large read: go on in a fresh buffer.
		nb := getBuffer(mr.size)
		mr.w = copy(nb.b, mr.buf.b[mr.r:mr.w])
		mr.r = 0
		mr.buf.Release()
		mr.buf = nb
	}
	// One read, as bufio does: what the connection holds now, up to the
	// rest of the buffer. A fast sender fills it whole; a slow one's bytes
	// are handed on (and reserved) as they come.
	for n := 0; n == 0 && mr.err == nil; {
		n, mr.err = mr.src.Read(mr.buf.b[mr.w:])
		mr.w += n
	}
	return nil
}

func (mr *Reader) unread() []byte {
	if mr.buf == nil {
		return nil
	}
	return mr.buf.b[mr.r:mr.w]
}

// readLine is bufio.Reader.ReadSlice('\n') on a 4 KiB buffer, as
// mime/multipart reads its boundary lines.
func (mr *Reader) readLine() ([]byte, error) {
	for {
		buf := mr.unread()
		if i := bytes.IndexByte(buf[:min(len(buf), maxLine)], '\n'); i >= 0 {
			mr.r += i + 1
			return buf[:i+1], nil
		}
		if len(buf) >= maxLine {
			mr.r += maxLine
			return buf[:maxLine], bufio.ErrBufferFull
		}
		if mr.err != nil {
			mr.r = mr.w
			return buf, mr.err
		}
		if err := mr.more(); err != nil {
			return buf, err
		}
	}
}

// NextPart returns the next part, or io.EOF after the last one. The part
// before it is skipped if it was not read to its end.
func (mr *Reader) NextPart() (*Part, error) {
	if mr.cur != nil {
		mr.cur.discard()
		mr.cur = nil
	}
	if string(mr.dashBoundary) == "--" {
		return nil, fmt.Errorf("multipart: boundary is empty")
	}
	expectNewPart := false
	for {
		line, err := mr.readLine()
		if err == io.EOF && mr.isFinalBoundary(line) {
			return nil, io.EOF
		}
		if err != nil {
			return nil, fmt.Errorf("multipart: NextPart: %w", err)
		}
		if mr.isBoundaryDelimiterLine(line) {
			mr.partsRead++
			p, err := mr.newPart()
			if err != nil {
				return nil, err
			}
			mr.cur = p
			return p, nil
		}
		if mr.isFinalBoundary(line) {
			return nil, io.EOF
		}
		if expectNewPart {
			return nil, fmt.Errorf("multipart: expecting a new Part; got line %q", string(line))
		}
		if mr.partsRead == 0 {
			continue // preamble
		}
		if bytes.Equal(line, mr.nl) {
			expectNewPart = true
			continue
		}
		return nil, fmt.Errorf("multipart: unexpected line in Next(): %q", line)
	}
}

func (mr *Reader) isFinalBoundary(line []byte) bool {
	if !bytes.HasPrefix(line, mr.dashBoundaryDash) {
		return false
	}
	rest := skipLWSPChar(line[len(mr.dashBoundaryDash):])
	return len(rest) == 0 || bytes.Equal(rest, mr.nl)
}

func (mr *Reader) isBoundaryDelimiterLine(line []byte) bool {
	if !bytes.HasPrefix(line, mr.dashBoundary) {
		return false
	}
	rest := skipLWSPChar(line[len(mr.dashBoundary):])
	// As mime/multipart: a first boundary line ending in a bare \n puts
	// the whole body in \n mode (against the RFC, but seen in practice).
	if mr.partsRead == 0 && len(rest) == 1 && rest[0] == '\n' {
		mr.nl = mr.nl[1:]
		mr.nlDashBoundary = mr.nlDashBoundary[1:]
	}
	return bytes.Equal(rest, mr.nl)
}

func skipLWSPChar(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// newPart reads a part's header block, counting it against
// MaxHeaderBytes, and parses it with net/textproto as mime/multipart does.
func (mr *Reader) newPart() (*Part, error) {
	var block []byte
	for {
		buf := mr.unread()
		budget := MaxHeaderBytes - mr.headerBytes
		end := headerEnd(buf)
		if end > budget || (end < 0 && len(buf) > budget) {
			return nil, ErrHeaderTooLarge
		}
		if end >= 0 {
			block = buf[:end]
			break
		}
		if mr.err != nil {
			block = buf // let textproto say what is wrong with it
			break
		}
		if err := mr.more(); err != nil {
			return nil, err
		}
	}
	mr.r += len(block)
	mr.headerBytes += len(block)
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(block))).ReadMIMEHeader()
	if err != nil {
		return nil, err
	}
	p := &Part{Header: h, mr: mr}
	const cte = "Content-Transfer-Encoding"
	if strings.EqualFold(h.Get(cte), "quoted-printable") {
		h.Del(cte)
		p.qp = quotedprintable.NewReader(rawReader{p})
	}
	return p, nil
}

// headerEnd is the length of the header block at the start of buf,
// through its blank line ("\n" or "\r\n" alone), or -1 if it has none yet.
func headerEnd(buf []byte) int {
	switch {
	case bytes.HasPrefix(buf, []byte("\n")):
		return 1
	case bytes.HasPrefix(buf, []byte("\r\n")):
		return 2
	}
	end := -1
	if i := bytes.Index(buf, []byte("\n\n")); i >= 0 {
		end = i + 2
	}
	if i := bytes.Index(buf, []byte("\n\r\n")); i >= 0 && (end < 0 || i+3 < end) {
		end = i + 3
	}
	return end
}

// Part is one part of the body.
type Part struct {
	Header textproto.MIMEHeader

	mr    *Reader
	total int64 // bytes of the part read so far
	err   error // set once the part ended: io.EOF or why not
	qp    io.Reader
	rest  Chunk // what Read has not handed out yet of the last chunk
	// rawRest is rest for the quoted-printable decoder's reads.
	rawRest Chunk

	disposition       string
	dispositionParams map[string]string
}

// FormName is the name parameter of a form-data Content-Disposition.
func (p *Part) FormName() string {
	if p.dispositionParams == nil {
		p.parseContentDisposition()
	}
	if p.disposition != "form-data" {
		return ""
	}
	return p.dispositionParams["name"]
}

// FileName is the base name of the Content-Disposition's filename.
func (p *Part) FileName() string {
	if p.dispositionParams == nil {
		p.parseContentDisposition()
	}
	filename := p.dispositionParams["filename"]
	if filename == "" {
		return ""
	}
	return filepath.Base(filename)
}

func (p *Part) parseContentDisposition() {
	var err error
	p.disposition, p.dispositionParams, err = mime.ParseMediaType(p.Header.Get("Content-Disposition"))
	if err != nil {
		p.dispositionParams = map[string]string{}
	}
}

// NextChunk returns the next run of the part's bytes, without copying
// them, or io.EOF after the last. A chunk is never empty.
func (p *Part) NextChunk() (Chunk, error) {
	if p.qp != nil {
		return p.decodedChunk()
	}
	return p.rawChunk()
}

func (p *Part) rawChunk() (Chunk, error) {
	mr := p.mr
	for p.err == nil {
		readErr := mr.err
		if readErr == io.EOF {
			readErr = io.ErrUnexpectedEOF
		}
		buf := mr.unread()
		n, err := scanUntilBoundary(buf, mr.dashBoundary, mr.nlDashBoundary, p.total, readErr)
		p.err = err
		if n > 0 {
			mr.r += n
			p.total += int64(n)
			mr.buf.refs.Add(1)
			return Chunk{Data: buf[:n:n], buf: mr.buf}, nil
		}
		if err == nil {
			p.err = mr.more()
		}
	}
	return Chunk{}, p.err
}

// decodedChunk decodes a quoted-printable part into a fresh buffer (the
// rare case where a copy cannot be avoided).
func (p *Part) decodedChunk() (Chunk, error) {
	b := getBuffer(p.mr.size)
	n := 0
	var err error
	for n < len(b.b) && err == nil {
		var k int
		k, err = p.qp.Read(b.b[n:])
		n += k
	}
	if n > 0 {
		return Chunk{Data: b.b[:n:n], buf: b}, nil
	}
	b.Release()
	return Chunk{}, err
}

// rawReader reads a part's raw bytes, for the quoted-printable decoder.
type rawReader struct{ p *Part }

func (r rawReader) Read(b []byte) (int, error) {
	return readChunks(b, &r.p.rawRest, r.p.rawChunk)
}

// Read copies the part's bytes, for callers that want an io.Reader.
func (p *Part) Read(b []byte) (int, error) {
	return readChunks(b, &p.rest, p.NextChunk)
}

// readChunks copies from rest, taking the next chunk when it is used up.
func readChunks(b []byte, rest *Chunk, next func() (Chunk, error)) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if len(rest.Data) == 0 {
		rest.Release()
		*rest = Chunk{}
		c, err := next()
		if err != nil {
			return 0, err
		}
		*rest = c
	}
	n := copy(b, rest.Data)
	rest.Data = rest.Data[n:]
	return n, nil
}

// discard skips what is left of the part.
func (p *Part) discard() {
	for _, c := range []*Chunk{&p.rest, &p.rawRest} {
		c.Release()
		*c = Chunk{}
	}
	for {
		c, err := p.rawChunk()
		if err != nil {
			return
		}
		c.Release()
	}
}

// scanUntilBoundary is mime/multipart's: how many bytes of buf are the
// part's, and the error to return after them (io.EOF at the boundary).
// total is how many bytes of the part were read already; readErr the
// error that followed buf.
func scanUntilBoundary(buf, dashBoundary, nlDashBoundary []byte, total int64, readErr error) (int, error) {
	if total == 0 {
		// At the beginning of the body, allow dashBoundary.
		if bytes.HasPrefix(buf, dashBoundary) {
			switch matchAfterPrefix(buf, dashBoundary, readErr) {
			case -1:
				return len(dashBoundary), nil
			case 0:
				return 0, nil
			case +1:
				return 0, io.EOF
			}
		}
		if bytes.HasPrefix(dashBoundary, buf) {
			return 0, readErr
		}
	}
	if i := bytes.Index(buf, nlDashBoundary); i >= 0 {
		switch matchAfterPrefix(buf[i:], nlDashBoundary, readErr) {
		case -1:
			return i + len(nlDashBoundary), nil
		case 0:
			return i, nil
		case +1:
			return i, io.EOF
		}
	}
	if bytes.HasPrefix(nlDashBoundary, buf) {
		return 0, readErr
	}
	// Everything before the last possible start of a boundary is the
	// part's. Only the tail can hold one: look no further back than it.
	from := max(0, len(buf)-len(nlDashBoundary))
	i := bytes.LastIndexByte(buf[from:], nlDashBoundary[0])
	if i >= 0 && bytes.HasPrefix(nlDashBoundary, buf[from+i:]) {
		return from + i, nil
	}
	return len(buf), readErr
}

// matchAfterPrefix is mime/multipart's: +1 if buf (which starts with
// prefix) is a boundary, -1 if it is not, 0 if more input is needed.
func matchAfterPrefix(buf, prefix []byte, readErr error) int {
	if len(buf) == len(prefix) {
		if readErr != nil {
			return +1
		}
		return 0
	}
	c := buf[len(prefix)]
	if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
		return +1
	}
	if c == '-' {
		if len(buf) == len(prefix)+1 {
			if readErr != nil {
				return -1
			}
			return 0
		}
		if buf[len(prefix)+1] == '-' {
			return +1
		}
	}
	return -1
}
