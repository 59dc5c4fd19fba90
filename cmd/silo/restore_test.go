package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/transfer"
)

// A backup whose checksums were recomputed after it was changed passes
// every checksum; restore must still refuse it when its metadata and its
// files disagree, naming the first inconsistency, exiting non-zero and
// leaving no store behind. The same backup rewritten unchanged restores.
func TestRestoreRefusesInconsistentBackups(t *testing.T) {
	startBackupServer(t)
	mustCLI(t, "datasets", "upload", writeFile(t, "hello.jsonl", "{\"text\":\"hello\"}\n{\"text\":\"world\"}\n"),
		"--name", "hello", "--type", "embed-input", "--wait")
	dir := t.TempDir()
	good := filepath.Join(dir, "good.tar")
	mustCLI(t, "backup", "-o", good)
	orig := readBackup(t, good)
	if len(orig.blobs) < 2 {
		t.Fatalf("the backup holds %d files, want the upload and its Avro file", len(orig.blobs))
	}

	for _, tc := range []struct {
		name   string
		tamper func(b *backupFiles)
		want   string // "" : restores
	}{
		{"unchanged", func(*backupFiles) {}, ""},
		{"usage +1", func(b *backupFiles) { b.org().UsedBytes++ }, "usage_bytes is "},
		{"a referenced file dropped", func(b *backupFiles) { b.blobs = b.blobs[1:] }, "which is not in the backup"},
		{"an unreferenced file added", func(b *backupFiles) {
			b.blobs = append(b.blobs, tarFile{"blobs/" + silo.NewBlobKey(), []byte("stray\n")})
		}, "is not a file of any dataset"},
		{"a file grown", func(b *backupFiles) {
			b.blobs[0].data = append(bytes.Clone(b.blobs[0].data), "{\"text\":\"more\"}\n"...)
		}, "but dataset"},
		{"a NUL in a name", func(b *backupFiles) { b.dataset().Name += "\x00" }, "holds a NUL character"},
		{"a manifest with no files", func(b *backupFiles) { b.noFiles = true }, "does not list metadata.jsonl first"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := orig.clone(t)
			tc.tamper(b)
			path := filepath.Join(t.TempDir(), "backup.tar")
			b.write(t, path)
			target := filepath.Join(t.TempDir(), "restored")
			_, stderr, err := cli(t, "restore", "--data", target, path)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("restore of the unchanged backup: %v\n%s", err, stderr)
				}
				return
			}
			if err == nil || exitCode(err) == exitOK || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("restore: %v (exit %d), want a refusal containing %q", err, exitCode(err), tc.want)
			}
			if _, serr := os.Stat(target); !errors.Is(serr, os.ErrNotExist) {
				ents, _ := os.ReadDir(target)
				t.Fatalf("a refused restore left %s behind (%d entries, %v)", target, len(ents), serr)
			}
			t.Logf("refused: %v", err)
		})
	}
}

// backupFiles is a backup taken apart: its manifest, its metadata records
// and its files, to change and put back together with every size and
// checksum recomputed, as someone tampering with it would.
type backupFiles struct {
	man     transfer.Manifest
	records []*silo.Record
	blobs   []tarFile
	noFiles bool // write a manifest that lists no files, and no files
}

type tarFile struct {
	name string
	data []byte
}

func readBackup(t *testing.T, path string) *backupFiles {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	b := &backupFiles{}
	for i := 0; ; i++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		switch i {
		case 0:
			if err := json.Unmarshal(data, &b.man); err != nil {
				t.Fatal(err)
			}
		case 1:
			for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
				var r silo.Record
				if err := json.Unmarshal(line, &r); err != nil {
					t.Fatal(err)
				}
				b.records = append(b.records, &r)
			}
		default:
			b.blobs = append(b.blobs, tarFile{hdr.Name, data})
		}
	}
	return b
}

func (b *backupFiles) clone(t *testing.T) *backupFiles {
	t.Helper()
	path := filepath.Join(t.TempDir(), "clone.tar")
	b.write(t, path)
	return readBackup(t, path)
}

func (b *backupFiles) org() *silo.Org {
	for _, r := range b.records {
		if r.Org != nil && r.Org.UsedBytes > 0 {
			return r.Org
		}
	}
	panic("no organisation with usage in the backup")
}

func (b *backupFiles) dataset() *silo.Dataset {
	for _, r := range b.records {
		if r.Dataset != nil {
			return r.Dataset
		}
	}
	panic("no dataset in the backup")
}

// write puts the backup together: the manifest lists every file with its
// size and SHA-256 as they are now.
func (b *backupFiles) write(t *testing.T, path string) {
	t.Helper()
	var meta bytes.Buffer
	enc := json.NewEncoder(&meta)
	for _, r := range b.records {
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	files := append([]tarFile{{"metadata.jsonl", meta.Bytes()}}, b.blobs...)
	man := b.man
	man.Files = nil
	if b.noFiles {
		files = nil
	}
	for _, f := range files {
		sum := sha256.Sum256(f.data)
		man.Files = append(man.Files, transfer.File{Name: f.name, Size: int64(len(f.data)), SHA256: hex.EncodeToString(sum[:])})
	}
	mj, err := json.Marshal(man)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for _, f := range append([]tarFile{{"manifest.json", mj}}, files...) {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Size: int64(len(f.data)), Mode: 0o600, Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(f.data)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}
