package api

import (
	"context"
	"io"
	"net/http"
	"strconv"

	"github.com/silo-datasets/silo"
)

// BackupSnapshot is a consistent backup ready to stream (a
// transfer.Snapshot): its size is known before the first byte.
type BackupSnapshot interface {
	Size() int64
	WriteTo(w io.Writer) (int64, error)
	Close() error
}

// backupPath serves GET: a tar of the whole service, for admin keys.
const backupPath = "/v1/admin/backup"

// noBackup is the answer of a service whose stores have their own backups.
const noBackup = "online backups are made by the embedded stores only; on PostgreSQL + S3 back up the database " +
	"with pg_dump or continuous archiving (point-in-time recovery) and the bucket with object versioning " +
	"or replication (see the README, \"Backups\")"

func (s *Server) handleBackup(w http.ResponseWriter, r *http.Request) {
	if err := s.Service.AuthorizeBackup(callerOf(r)); err != nil {
		writeError(w, r, err)
		return
	}
	if s.Backup == nil {
		writeError(w, r, silo.Errorf(silo.ENOTIMPLEMENTED, noBackup))
		return
	}
	snap, err := s.Backup(r.Context())
	if err != nil {
		writeError(w, r, err)
		return
	}
	defer snap.Close()
	h := w.Header()
	h.Set("Content-Type", "application/x-tar")
	h.Set("Content-Length", strconv.FormatInt(snap.Size(), 10))
	h.Set("Content-Disposition", `attachment; filename="silo-backup.tar"`)
	w.WriteHeader(http.StatusOK)
	if _, err := snap.WriteTo(w); err != nil {
		// The body ends short of its Content-Length: the client sees the
		// backup fail, and restore would refuse what it got.
		s.logger().Error("backup failed while streaming", "err", err)
		panic(http.ErrAbortHandler)
	}
}

// backupFunc takes a snapshot; set by cmd/silo for the embedded stores.
type backupFunc = func(ctx context.Context) (BackupSnapshot, error)
