package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/silo-datasets/silo/client"
)

// resumable sends a dataset's files as resumable (tus) uploads: chunks
// with their SHA-256, retried from the server's offset after a dropped
// connection or a 5xx, and resumed when the command is run again on the
// same file after it was killed (the upload's URL waits in a state file
// under the user's cache directory).
type resumable struct {
	c        *client.Client
	cmd      *cobra.Command
	chunk    int64
	retryFor time.Duration
}

// upload sends the data file (and the eval file, if any) and returns the
// dataset's id. A lone data file carries the dataset's name and type in its
// metadata, so its last chunk's answer creates the dataset; with an eval
// file, both are uploaded first and a create joins them.
func (r *resumable) upload(req client.UploadRequest, path, eval string) (string, []byte, error) {
	meta := map[string]string{"filename": filepath.Base(path)}
	if eval == "" {
		meta["name"], meta["type"] = req.Name, req.Type
		for k, v := range req.Params {
			if len(v) > 0 {
				meta[k] = v[0]
			}
		}
	}
	data, err := r.send(path, meta, "uploading")
	if err != nil {
		return "", nil, err
	}
	if eval == "" {
		if data.DatasetID == "" {
			return "", nil, fmt.Errorf("the upload %s completed but the server named no dataset", data.URL)
		}
		return data.DatasetID, []byte(fmt.Sprintf(`{"id":%q}`, data.DatasetID)), nil
	}
	ev, err := r.send(eval, map[string]string{"filename": filepath.Base(eval)}, "uploading eval")
	if err != nil {
		return "", nil, err
	}
	return r.c.CreateFromUploads(r.cmd.Context(), req, data.URL, ev.URL)
}

func (r *resumable) send(path string, meta map[string]string, desc string) (*client.Tus, error) {
	var stateDir string
	if dir, err := os.UserCacheDir(); err == nil {
		stateDir = filepath.Join(dir, "silo", "uploads")
	}
	var finish func()
	var set func(int64)
	defer func() {
		if finish != nil {
			finish()
		}
	}()
	return r.c.UploadResumable(r.cmd.Context(), client.ResumableFile{
		Path: path, Metadata: meta, ChunkSize: r.chunk, RetryFor: r.retryFor, StateDir: stateDir,
		Progress: func(offset, length int64) {
			if set == nil {
				set, finish = progressAt(length, desc+" "+filepath.Base(path))
			}
			set(offset)
		},
		Resumed: func(offset int64) {
			fmt.Fprintf(r.cmd.ErrOrStderr(), "resuming the upload of %s at %s\n", filepath.Base(path), size(offset))
		},
	})
}
