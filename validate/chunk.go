package validate

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// bufSize is the read buffer of every parser. Large enough that ordinary rows
// come out of ReadSlice without copying and that a gigabyte takes a
// thousand reads, not sixteen thousand (a read is a system call, dear on
// a virtual machine); small enough not to matter per part.
const bufSize = 1 << 20

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// skipBOM drops a leading UTF-8 byte order mark. Spreadsheet programs write
// one in front of "UTF-8" CSV exports; it is not part of the first field.
func skipBOM(br *bufio.Reader) error {
	p, err := br.Peek(len(utf8BOM))
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return err
	}
	if bytes.Equal(p, utf8BOM) {
		_, err = br.Discard(len(utf8BOM))
	}
	return err
}

// chunker splits a stream into chunks at a separator (a newline for JSONL, the
// text_separator for TXT) without ever holding more than max bytes of one
// chunk: a longer chunk is skipped to its end and reported, so a 20 GB line
// costs a bounded amount of memory, not an OOM.
type chunker struct {
	br   *bufio.Reader
	sep  []byte
	max  int
	buf  []byte
	line int64 // line number of the next byte to read, from 1
	eof  bool
}

func newChunker(br *bufio.Reader, sep []byte, max int) *chunker {
	return &chunker{br: br, sep: sep, max: max, line: 1}
}

// next returns the next chunk without its separator and the line it starts
// on. The chunk is only valid until the next call. tooLong reports a chunk of
// more than max bytes, whose bytes are not returned. At the end of the stream
// next returns io.EOF.
func (c *chunker) next() (chunk []byte, line int64, tooLong bool, err error) {
	if c.eof {
		return nil, c.line, false, io.EOF
	}
	c.buf = c.buf[:0]
	line = c.line
	last := c.sep[len(c.sep)-1]
	for {
		frag, rerr := c.br.ReadSlice(last)
		c.line += int64(bytes.Count(frag, newline))
		if len(c.buf) == 0 && rerr == nil && len(frag) <= c.max+len(c.sep) && bytes.HasSuffix(frag, c.sep) {
			// The whole chunk is in the reader's buffer: hand it out as it
			// is, valid until the next call as documented, without a copy.
			return frag[:len(frag)-len(c.sep)], line, false, nil
		}
		c.buf = append(c.buf, frag...)
		if len(c.buf) > c.max+len(c.sep) {
			// Keep only a tail long enough to recognise the separator.
			tooLong = true
			n := copy(c.buf, c.buf[len(c.buf)-len(c.sep):])
			c.buf = c.buf[:n]
		}
		switch {
		case rerr == nil && bytes.HasSuffix(c.buf, c.sep):
			return c.done(line, tooLong, len(c.sep))
		case rerr == nil || errors.Is(rerr, bufio.ErrBufferFull):
			continue
		case rerr == io.EOF:
			c.eof = true
			if len(c.buf) == 0 && !tooLong {
				return nil, line, false, io.EOF
			}
			return c.done(line, tooLong, 0)
		default:
			return nil, line, false, rerr
		}
	}
}

func (c *chunker) done(line int64, tooLong bool, cut int) ([]byte, int64, bool, error) {
	if tooLong || len(c.buf)-cut > c.max {
		return nil, line, true, nil
	}
	return c.buf[:len(c.buf)-cut], line, false, nil
}

var newline = []byte{'\n'}

// countingReader counts the bytes read through it: the part's size for the
// metrics, whatever the parser buffers.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
