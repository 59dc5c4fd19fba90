package transfer

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/silo-datasets/silo"
)

// Restore reads a backup from r into empty stores, verifying every file's
// size and SHA-256 against the manifest as it streams. A corrupted or
// incomplete backup is refused with an error naming the file; what was
// written by then is the caller's to remove (it made the stores for this).
func Restore(ctx context.Context, r io.Reader, to Stores, tempDir string, p Progress) (*Manifest, error) {
	tr := tar.NewReader(bufio.NewReaderSize(r, 1<<16))
	hdr, err := tr.Next()
	if err != nil || hdr.Name != manifestName {
		return nil, fmt.Errorf("not a silo backup: it does not start with %s", manifestName)
	}
	var m Manifest
	if err := json.NewDecoder(io.LimitReader(tr, 1<<30)).Decode(&m); err != nil || m.Format != formatName {
		return nil, fmt.Errorf("backup file %s is corrupted or of another format (want %s)", manifestName, formatName)
	}
	want := map[string]File{}
	for _, f := range m.Files {
		want[f.Name] = f
	}
	meta, err := os.CreateTemp(tempDir, "silo-restore-*.jsonl")
	if err != nil {
		return nil, err
	}
	os.Remove(meta.Name())
	defer meta.Close()
	seen := map[string]bool{}
	last := manifestName
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("backup is corrupted after file %s: %w", last, err)
		}
		f, ok := want[hdr.Name]
		if !ok || seen[hdr.Name] {
			return nil, fmt.Errorf("backup is corrupted: file %s is not in its manifest (or twice in it)", hdr.Name)
		}
		seen[hdr.Name], last = true, hdr.Name
		name := "backup file " + hdr.Name
		switch {
		case hdr.Name == metadataName:
			v := newVerifier(tr, nil)
			if _, err := io.Copy(meta, v); err != nil {
				return nil, fmt.Errorf("reading %s: %w", name, err)
			}
			if err := v.check(name, f.Size, f.SHA256); err != nil {
				return nil, err
			}
		case strings.HasPrefix(hdr.Name, blobPrefix):
			b := silo.LiveBlob{Key: strings.TrimPrefix(hdr.Name, blobPrefix), Size: f.Size, SHA256: f.SHA256}
			if !silo.ValidBlobKey(b.Key) {
				return nil, fmt.Errorf("%s is not a blob silo writes", name)
			}
			if err := putVerified(ctx, to.Blobs, b, tr, name, p); err != nil {
				return nil, err
			}
		}
	}
	for _, f := range m.Files {
		if !seen[f.Name] {
			return nil, fmt.Errorf("backup is incomplete: file %s is missing (the backup ended early?)", f.Name)
		}
	}
	if _, err := meta.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	err = to.Meta.Import(ctx, func(put func(*silo.Record) error) error {
		dec := json.NewDecoder(bufio.NewReaderSize(meta, 1<<16))
		for {
			var r silo.Record
			if err := dec.Decode(&r); errors.Is(err, io.EOF) {
				return nil
			} else if err != nil {
				return fmt.Errorf("backup file %s: %w", metadataName, err)
			}
			if err := put(&r); err != nil {
				return err
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("writing the metadata: %w", err)
	}
	return &m, nil
}
