package transfer

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/silo-datasets/silo"
)

// Restore reads a backup from r into empty stores. Before it writes
// anything it checks that the backup agrees with itself: the metadata is
// what the manifest says (size and SHA-256), its records are consistent
// (see contents) and the manifest lists exactly the files they refer to,
// with the sizes and checksums their parts recorded. Then every file is
// verified as it streams. Anything else is refused with an error naming
// the first inconsistency; what was written by then is the caller's to
// remove (it made the stores for this).
func Restore(ctx context.Context, r io.Reader, to Stores, tempDir string, p Progress) (*Manifest, error) {
	tr := tar.NewReader(bufio.NewReaderSize(r, 1<<16))
	m, err := readManifest(tr)
	if err != nil {
		return nil, err
	}
	meta, err := os.CreateTemp(tempDir, "silo-restore-*.jsonl")
	if err != nil {
		return nil, err
	}
	os.Remove(meta.Name())
	defer meta.Close()
	c, err := readMetadata(tr, m.Files[0], meta)
	if err != nil {
		return nil, err
	}
	if err := c.matchFiles(m.Files[1:]); err != nil {
		return nil, fmt.Errorf("backup is inconsistent: %w", err)
	}
	if err := restoreBlobs(ctx, tr, m.Files[1:], to.Blobs, p); err != nil {
		return nil, err
	}
	if _, err := meta.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	err = to.Meta.Import(ctx, func(put func(*silo.Record) error) error {
		return eachRecord(meta, put)
	})
	if err != nil {
		return nil, fmt.Errorf("writing the metadata: %w", err)
	}
	return m, nil
}

// readManifest reads the backup's first file. A manifest lists the
// metadata first, then blobs, each once.
func readManifest(tr *tar.Reader) (*Manifest, error) {
	hdr, err := tr.Next()
	if err != nil || hdr.Name != manifestName {
		return nil, fmt.Errorf("not a silo backup: it does not start with %s", manifestName)
	}
	var m Manifest
	if err := json.NewDecoder(io.LimitReader(tr, 1<<30)).Decode(&m); err != nil || m.Format != formatName {
		return nil, fmt.Errorf("backup file %s is corrupted or of another format (want %s)", manifestName, formatName)
	}
	if len(m.Files) == 0 || m.Files[0].Name != metadataName {
		return nil, fmt.Errorf("backup file %s is corrupted: it does not list %s first", manifestName, metadataName)
	}
	listed := map[string]bool{}
	for _, f := range m.Files {
		if listed[f.Name] {
			return nil, fmt.Errorf("backup file %s is corrupted: it lists %s twice", manifestName, f.Name)
		}
		listed[f.Name] = true
	}
	return &m, nil
}

// readMetadata copies the backup's second file, the metadata, into spool,
// verifying it against f, and checks its records.
func readMetadata(tr *tar.Reader, f File, spool *os.File) (*contents, error) {
	hdr, err := tr.Next()
	if err != nil || hdr.Name != metadataName {
		return nil, fmt.Errorf("backup is corrupted: %s does not follow %s", metadataName, manifestName)
	}
	name := "backup file " + metadataName
	v := newVerifier(tr, nil)
	if _, err := io.Copy(spool, v); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if err := v.check(name, f.Size, f.SHA256); err != nil {
		return nil, err
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	c := newContents()
	if err := eachRecord(spool, c.add); err != nil {
		return nil, fmt.Errorf("backup is inconsistent: %w", err)
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("backup is inconsistent: %w", err)
	}
	return c, nil
}

// eachRecord calls fn with each record of a metadata file, one JSON object
// a line. A line that is not valid UTF-8 is refused: the JSON decoder
// would quietly turn its bytes into U+FFFD.
func eachRecord(r io.Reader, fn func(*silo.Record) error) error {
	br := bufio.NewReaderSize(r, 1<<16)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			if !utf8.Valid(line) {
				return fmt.Errorf("%s line %d is not valid UTF-8", metadataName, n)
			}
			var rec silo.Record
			if err := json.Unmarshal(line, &rec); err != nil {
				return fmt.Errorf("%s line %d: %w", metadataName, n, err)
			}
			if err := fn(&rec); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// restoreBlobs stores the backup's files, each once, verified against the
// manifest (which matches the metadata by now), and refuses a backup that
// ends before every file came.
func restoreBlobs(ctx context.Context, tr *tar.Reader, files []File, to silo.BlobStore, p Progress) error {
	want := map[string]File{}
	for _, f := range files {
		want[f.Name] = f
	}
	seen := map[string]bool{}
	last := metadataName
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			return fmt.Errorf("backup is corrupted after file %s: %w", last, err)
		}
		f, ok := want[hdr.Name]
		if !ok || seen[hdr.Name] {
			return fmt.Errorf("backup is corrupted: file %s is not in its manifest (or twice in it)", hdr.Name)
		}
		seen[hdr.Name], last = true, hdr.Name
		b := silo.LiveBlob{Key: strings.TrimPrefix(hdr.Name, blobPrefix), Size: f.Size, SHA256: f.SHA256}
		if err := putVerified(ctx, to, b, tr, "backup file "+hdr.Name, p); err != nil {
			return err
		}
	}
	for _, f := range files {
		if !seen[f.Name] {
			return fmt.Errorf("backup is incomplete: file %s is missing (the backup ended early?)", f.Name)
		}
	}
	return nil
}
