package transfer

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/silo-datasets/silo"
)

// A backup is a tar file: manifest.json first (every other file's name,
// size and SHA-256), then metadata.jsonl (the store's records, one JSON
// object a line), then blobs/KEY for every file a dataset refers to.
const (
	manifestName = "manifest.json"
	metadataName = "metadata.jsonl"
	blobPrefix   = "blobs/"
	formatName   = "silo-backup/1"
)

// Manifest describes a backup.
type Manifest struct {
	Format   string       `json:"format"`
	TakenAt  time.Time    `json:"taken_at"`
	Datasets int64        `json:"datasets"`
	Skipped  silo.Skipped `json:"skipped"` // in flight when it was taken: not in the backup
	Files    []File       `json:"files"`
}

// File is one file of a backup.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Backup takes consistent snapshots of a running service's stores.
type Backup struct {
	Store   silo.TransferStore
	Blobs   silo.BlobStore
	Pins    *silo.Pins // the service's: its deletions spare what a backup reads
	TempDir string     // where the metadata is spooled; "" = the system's
}

// Snapshot is a backup whose metadata is taken (one instant) and whose
// files are pinned until Close; WriteTo streams it.
type Snapshot struct {
	b        *Backup
	manifest Manifest
	meta     *os.File
	unpin    func()
	size     int64
}

// Snapshot reads the metadata in one transaction into a temporary file and
// pins the files it refers to. Until it has, every file is pinned: a
// delete that commits after the snapshot's instant may not remove a file
// the snapshot still lists.
func (b *Backup) Snapshot(ctx context.Context) (*Snapshot, error) {
	unpinAll := b.Pins.PinAll()
	defer unpinAll()
	f, err := os.CreateTemp(b.TempDir, "silo-backup-*.jsonl")
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	os.Remove(f.Name()) // open, it lives until closed; never left behind
	s := &Snapshot{b: b, meta: f, manifest: Manifest{Format: formatName, TakenAt: time.Now().UTC()}}
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<16)
	enc := json.NewEncoder(w)
	var blobs []File
	var keys []string
	err = b.Store.Export(ctx, func(r *silo.Record) error {
		if r.Skipped != nil {
			s.manifest.Skipped.Add(r.Skipped)
			return nil
		}
		if r.Dataset != nil {
			s.manifest.Datasets++
			for _, lb := range r.Dataset.LiveBlobs() {
				blobs = append(blobs, File{Name: blobPrefix + lb.Key, Size: lb.Size, SHA256: lb.SHA256})
				keys = append(keys, lb.Key)
			}
		}
		return enc.Encode(r)
	})
	if err == nil {
		err = w.Flush()
	}
	var n int64
	if err == nil {
		n, err = f.Seek(0, io.SeekCurrent)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("backup: reading the metadata: %w", err)
	}
	s.unpin = b.Pins.Pin(keys)
	s.manifest.Files = append([]File{{Name: metadataName, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}}, blobs...)
	s.size = s.tarSize()
	return s, nil
}

func (s *Snapshot) manifestJSON() []byte {
	b, err := json.MarshalIndent(s.manifest, "", " ")
	if err != nil {
		panic(err) // plain structs always marshal
	}
	return b
}

// Size is the exact length of the tar WriteTo writes.
func (s *Snapshot) Size() int64 { return s.size }

// Manifest is what the backup holds.
func (s *Snapshot) Manifest() Manifest { return s.manifest }

// tarSize is the exact length of the tar WriteTo writes: each file's
// header as archive/tar writes it, then its bytes padded to 512.
func (s *Snapshot) tarSize() int64 {
	mtime := s.mtime()
	entry := func(name string, n int64) int64 { return headerLen(fileHeader(name, n, mtime)) + (n+511)/512*512 }
	total := entry(manifestName, int64(len(s.manifestJSON()))) + 1024 // two zero blocks end the archive
	for _, f := range s.manifest.Files {
		total += entry(f.Name, f.Size)
	}
	return total
}

func (s *Snapshot) mtime() time.Time { return s.manifest.TakenAt.Truncate(time.Second) }

// fileHeader is the tar header of one file of a backup. PAX, because a
// USTAR header cannot hold a size of 8 GiB or more and a dataset may be
// larger: archive/tar writes a plain USTAR header when the file fits one
// and adds a PAX size record (1 KiB more) when it does not, which GNU tar
// and every PAX (POSIX.1-2001) reader understand.
func fileHeader(name string, size int64, mtime time.Time) *tar.Header {
	return &tar.Header{Name: name, Size: size, Mode: 0o600, ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
}

// headerLen is how many bytes archive/tar writes for hdr, measured by
// writing it: the precomputed length (the answer's Content-Length) then
// cannot drift from what WriteTo writes, whatever records a header needs.
func headerLen(hdr *tar.Header) int64 {
	c := &countWriter{w: io.Discard}
	if err := tar.NewWriter(c).WriteHeader(hdr); err != nil {
		return 0 // WriteTo fails on the same header
	}
	return c.n
}

// WriteTo writes the backup as a tar, verifying each file as it streams
// from the blob store: a file that is not what its dataset recorded stops
// the backup (the tar then ends short, and restore refuses it).
func (s *Snapshot) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	tw := tar.NewWriter(cw)
	mtime := s.mtime()
	header := func(name string, size int64) error { return tw.WriteHeader(fileHeader(name, size, mtime)) }
	man := s.manifestJSON()
	if err := header(manifestName, int64(len(man))); err != nil {
		return cw.n, err
	}
	if _, err := tw.Write(man); err != nil {
		return cw.n, err
	}
	if err := header(metadataName, s.manifest.Files[0].Size); err != nil {
		return cw.n, err
	}
	if _, err := s.meta.Seek(0, io.SeekStart); err != nil {
		return cw.n, err
	}
	if _, err := io.Copy(tw, bufio.NewReaderSize(s.meta, 1<<16)); err != nil {
		return cw.n, err
	}
	ctx := context.Background()
	for _, f := range s.manifest.Files[1:] {
		if err := header(f.Name, f.Size); err != nil {
			return cw.n, err
		}
		if err := s.writeBlob(ctx, tw, f); err != nil {
			return cw.n, err
		}
	}
	err := tw.Close()
	return cw.n, err
}

func (s *Snapshot) writeBlob(ctx context.Context, w io.Writer, f File) error {
	key := f.Name[len(blobPrefix):]
	r, err := s.b.Blobs.Open(ctx, key, 0, -1)
	if err != nil {
		return fmt.Errorf("backup: reading blob %s: %w", key, err)
	}
	defer r.Close()
	v := newVerifier(r, nil)
	if _, err := io.Copy(w, io.LimitReader(v, f.Size)); err != nil {
		return fmt.Errorf("backup: blob %s: %w", key, err)
	}
	return v.check("blob "+key, f.Size, f.SHA256)
}

// Close lets the snapshot's files go and removes its spooled metadata.
func (s *Snapshot) Close() error {
	if s.unpin != nil {
		s.unpin()
	}
	return s.meta.Close()
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
