package mpart

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// parsedPart is what a caller sees of one part.
type parsedPart struct {
	Header         textproto.MIMEHeader
	Form, FileName string
	Data           []byte
	Err            error // reading the part's bytes
}

type parsed struct {
	Parts []parsedPart
	Err   error // the error that ended the body (nil: a clean end)
}

// collect reads the parts next gives until io.EOF or an error, each
// described by its header, names and the bytes read takes of it.
func collect[P any](next func() (P, error), describe func(P) parsedPart, read func(P) ([]byte, error)) parsed {
	var out parsed
	for {
		p, err := next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			out.Err = err
			return out
		}
		pp := describe(p)
		pp.Data, pp.Err = read(p)
		out.Parts = append(out.Parts, pp)
		if pp.Err != nil {
			out.Err = pp.Err
			return out
		}
	}
}

// parseStd is what mime/multipart makes of a body.
func parseStd(body []byte, boundary string) parsed {
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	return collect(mr.NextPart, func(p *multipart.Part) parsedPart {
		return parsedPart{Header: p.Header, Form: p.FormName(), FileName: p.FileName()}
	}, func(p *multipart.Part) ([]byte, error) { return io.ReadAll(p) })
}

// parseMine is what this package makes of it, read through buffers of
// size bytes from a source that hands over its bytes in pieces (mode),
// taking the parts' bytes as chunks or through Read.
func parseMine(t testing.TB, body []byte, boundary string, size int, mode byte) parsed {
	var src io.Reader = bytes.NewReader(body)
	switch mode % 4 {
	case 1:
		src = iotest.OneByteReader(src)
	case 2:
		src = iotest.HalfReader(src)
	case 3:
		src = iotest.DataErrReader(src)
	}
	mr := newReaderSize(src, boundary, size)
	defer mr.Close()
	return collect(mr.NextPart, func(p *Part) parsedPart {
		return parsedPart{Header: p.Header, Form: p.FormName(), FileName: p.FileName()}
	}, func(p *Part) ([]byte, error) {
		if mode&4 != 0 {
			return io.ReadAll(p)
		}
		var data []byte
		for {
			c, err := p.NextChunk()
			if err == io.EOF {
				return data, nil
			}
			if err != nil {
				return data, err
			}
			if len(c.Data) == 0 {
				t.Fatalf("an empty chunk")
			}
			data = append(data, c.Data...)
			c.Release()
		}
	})
}

// beyondStd: errors where this reader is stricter than mime/multipart
// by design (the header cap; a test buffer smaller than a line), and
// where mime/multipart is stricter (its 10,000 headers per part).
func beyondStd(mine, std error) bool {
	return errors.Is(mine, ErrHeaderTooLarge) || errors.Is(mine, errWindow) || errors.Is(std, multipart.ErrMessageTooLarge)
}

// compare fails unless both readers saw the same parts with the same
// bytes and both ended well or both failed.
func compare(t testing.TB, body []byte, boundary string, size int, mode byte) {
	std := parseStd(body, boundary)
	mine := parseMine(t, body, boundary, size, mode)
	n := min(len(std.Parts), len(mine.Parts))
	if beyondStd(mine.Err, std.Err) {
		n = min(n, len(mine.Parts)-1, len(std.Parts)-1)
	} else if len(std.Parts) != len(mine.Parts) || (std.Err == nil) != (mine.Err == nil) {
		t.Fatalf("size %d mode %d: mime/multipart: %d parts, err %v; mpart: %d parts, err %v", size, mode, len(std.Parts), std.Err, len(mine.Parts), mine.Err)
	}
	for i := 0; i < n; i++ {
		s, m := std.Parts[i], mine.Parts[i]
		if (s.Err == nil) != (m.Err == nil) {
			t.Fatalf("size %d mode %d part %d: mime/multipart err %v, mpart err %v", size, mode, i, s.Err, m.Err)
		}
		if s.Err != nil {
			continue // what came before an error is not used
		}
		if !reflect.DeepEqual(s.Header, m.Header) || s.Form != m.Form || s.FileName != m.FileName || !bytes.Equal(s.Data, m.Data) {
			t.Fatalf("size %d mode %d part %d differs:\nmime/multipart %+v %q\nmpart          %+v %q", size, mode, i, s.Header, s.Data, m.Header, m.Data)
		}
	}
}

// seeds are bodies that reach each branch of mime/multipart's parser.
func seeds() []struct {
	boundary string
	body     string
} {
	b := "XyZ"
	crlf := func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }
	return []struct {
		boundary string
		body     string
	}{
		{b, crlf("--XyZ\nContent-Disposition: form-data; name=\"data\"; filename=\"a/b.jsonl\"\n\n{\"a\":1}\n--XyZ--\n")},
		{b, crlf("preamble\n--XyZ\nContent-Disposition: form-data; name=\"data\"\n\nx\n--XyZ\nContent-Disposition: form-data; name=\"eval_data\"\n\n\n--XyZ--\nepilogue")},
		{b, "--XyZ\nContent-Disposition: form-data; name=\"data\"\n\nlf mode\n--XyZ--\n"},
		{b, crlf("--XyZ  \nContent-Disposition: form-data; name=\"data\"\n\ndata with --XyZ inside and \n--XyZa not a boundary\n--XyZ\t\n\n\n--XyZ--")},
		{b, crlf("--XyZ\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nfoo=3D=\nbar\n--XyZ--\n")},
		{b, crlf("--XyZ\nContent-Disposition: form-data; name=\"data\"\n\n--XyZ\n\n--XyZ--\n")},
		{b, crlf("--XyZ\nContent-Disposition: form-data; name=\"data\"\n\ntruncated\n--Xy")},
		{b, crlf("--XyZ\nContent-Disposition: form-data; name=\"data\"\n\ntruncated")},
		{b, crlf("--XyZ\nContent-Disposition: form-data; name=\"data\"\n\nx\n--XyZ junk\n")},
		{b, crlf("--XyZ\n bad: initial line\n\nx\n--XyZ--\n")},
		{b, crlf("--XyZ\nA: b\n  continued\n\nx\n--XyZ-\n--XyZ--")},
		{b, ""},
		{b, "no boundary at all\r\n"},
		{"", "--\r\n\r\n"},
	}
}

// TestSameAsMimeMultipart: the seeds through every buffer size and source
// mode give what mime/multipart gives.
func TestSameAsMimeMultipart(t *testing.T) {
	for _, s := range seeds() {
		for _, size := range []int{64, 97, 300, 9000, BufSize} {
			for mode := byte(0); mode < 8; mode++ {
				compare(t, []byte(s.body), s.boundary, size, mode)
			}
		}
	}
}

// FuzzReader checks the reader against mime/multipart on any body,
// boundary, buffer size and way of arriving.
func FuzzReader(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s.boundary, []byte(s.body), uint16(0), byte(0))
		f.Add(s.boundary, []byte(s.body), uint16(40), byte(5))
	}
	f.Fuzz(func(t *testing.T, boundary string, body []byte, size uint16, mode byte) {
		compare(t, body, boundary, 32+int(size)%4096, mode)
	})
}

// TestLargePartComesInWholeBuffers: a big file part is handed on in
// large chunks (no 4 KiB pieces, nothing copied on the way) and arrives
// byte for byte, even from a source that gives half of what is asked.
func TestLargePartComesInWholeBuffers(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef\r\n-"), 200_000) // 3.8 MB with many near-boundaries
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	w, _ := mw.CreateFormFile("data", "big.txt")
	w.Write(data)
	mw.Close()
	mr := NewReader(iotest.HalfReader(&body), mw.Boundary())
	defer mr.Close()
	p, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	small := 0
	for {
		c, err := p.NextChunk()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Data) < BufSize/16 {
			small++
		}
		got = append(got, c.Data...)
		c.Release()
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes, want %d, equal=%v", len(got), len(data), bytes.Equal(got, data))
	}
	// The first chunk follows the headers and the last ends at the
	// boundary; every other one is a large read (at least half of a
	// quarter buffer, the least room a read is made with).
	if chunks := len(data) / BufSize; small > 2 {
		t.Errorf("%d of ~%d chunks were under half a buffer", small, chunks)
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Fatalf("after the last part: %v, want io.EOF", err)
	}
}

// TestHeaderCap: part headers may take 64 KiB in all, over every part.
func TestHeaderCap(t *testing.T) {
	body := func(parts int, each int) []byte {
		var b bytes.Buffer
		for i := 0; i < parts; i++ {
			fmt.Fprintf(&b, "--B\r\nContent-Disposition: form-data; name=\"p%d\"\r\nX-Pad: %s\r\n\r\nx\r\n", i, strings.Repeat("a", each))
		}
		b.WriteString("--B--\r\n")
		return b.Bytes()
	}
	read := func(body []byte) (int, error) {
		mr := NewReader(bytes.NewReader(body), "B")
		defer mr.Close()
		n := 0
		for {
			_, err := mr.NextPart()
			if err == io.EOF {
				return n, nil
			}
			if err != nil {
				return n, err
			}
			n++
		}
	}
	if n, err := read(body(4, 15_000)); err != nil || n != 4 {
		t.Fatalf("4 parts of 15 kB headers: %d parts, %v", n, err)
	}
	if n, err := read(body(5, 15_000)); !errors.Is(err, ErrHeaderTooLarge) || n != 4 {
		t.Fatalf("5 parts of 15 kB headers: %d parts, %v; want 4 then ErrHeaderTooLarge", n, err)
	}
	if _, err := read(body(1, 70_000)); !errors.Is(err, ErrHeaderTooLarge) {
		t.Fatalf("one 70 kB header: %v, want ErrHeaderTooLarge", err)
	}
}

// BenchmarkReader: a 64 MiB part through this reader's chunks and
// through mime/multipart's Read, as the upload reads them.
func BenchmarkReader(b *testing.B) {
	data := bytes.Repeat([]byte("lorem ipsum dolor sit amet\n"), (64<<20)/27)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	w, _ := mw.CreateFormFile("data", "big.txt")
	w.Write(data)
	mw.Close()
	b.Run("mpart", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			mr := NewReader(bytes.NewReader(body.Bytes()), mw.Boundary())
			p, _ := mr.NextPart()
			for {
				c, err := p.NextChunk()
				if err != nil {
					break
				}
				c.Release()
			}
			mr.Close()
		}
	})
	b.Run("mime", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		buf := make([]byte, 256<<10)
		for b.Loop() {
			mr := multipart.NewReader(bytes.NewReader(body.Bytes()), mw.Boundary())
			p, _ := mr.NextPart()
			io.CopyBuffer(io.Discard, struct{ io.Reader }{p}, buf)
		}
	})
}

// TestSameAsMimeOnCreateCorpus: the API's create fuzz corpus (whole
// requests as the SDKs and odd clients send them) parses as with
// mime/multipart, whatever the buffer size.
func TestSameAsMimeOnCreateCorpus(t *testing.T) {
	dir := filepath.Join("..", "..", "api", "testdata", "fuzz", "FuzzCreateMultipart")
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus in %s: %v", dir, err)
	}
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		// go test fuzz v1: query, content type, body, ...
		lines := strings.Split(string(raw), "\n")
		ct, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[2], "string("), ")"))
		if err != nil {
			t.Fatalf("%s: content type: %v", name, err)
		}
		body, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[3], "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: body: %v", name, err)
		}
		_, params, err := mime.ParseMediaType(ct)
		if err != nil {
			continue // refused before any parsing
		}
		for _, size := range []int{40, 300, BufSize} {
			for mode := byte(0); mode < 8; mode++ {
				compare(t, []byte(body), params["boundary"], size, mode)
			}
		}
	}
}
