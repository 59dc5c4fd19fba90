package silo

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
)

// Dependency faults: the one vocabulary in which the stores report that
// what they stand on failed, so that handlers and the worker look only at
// the code (IsTransient) and never at a driver's error.
//
//   - EUNAVAILABLE (503 + Retry-After): the dependency refused or could not
//     be reached, and nothing was changed; retrying later is safe. Its
//     message names the cause in plain words ("storage is full", "the
//     database is unavailable") and never a host, port, user or path.
//   - ETIMEOUT (504): a call ran past its deadline; for a write its outcome
//     may be unknown (the contract says it settles by itself).
//
// Each store wraps its driver's errors with Fault (plus what only it can
// recognise: SQLSTATEs, SQLite result codes, S3 status codes), as wtf's
// sqlite package turns sql.ErrNoRows into ENOTFOUND.

// Names of the dependencies, as messages show them.
const (
	DepDatabase = "the database"
	DepBlobs    = "the blob store"
	DepDisk     = "the local disk"
)

// Messages of the disk faults every store can meet.
const (
	MsgFull     = "storage is full; retry once space has been freed"
	MsgReadOnly = "storage is read-only; retry once it is writable again"
)

// Unavailable returns an EUNAVAILABLE error of dep ("the database"), keeping
// err as its cause for logs.
func Unavailable(dep string, err error) *Error {
	return &Error{Code: EUNAVAILABLE, Message: dep + " is unavailable; retry in a moment", Err: err}
}

// TimedOut returns an ETIMEOUT error of dep, keeping err as its cause.
func TimedOut(dep string, err error) *Error {
	return &Error{Code: ETIMEOUT, Message: dep + " did not answer in time", Err: err}
}

// Fault classifies err, an error of dep, if it is a dependency fault that
// any Go program can recognise: a full, read-only or failing disk, a
// network connection refused, reset or timed out, a context deadline. It
// returns err unchanged when it is nil, already an *Error, a cancellation
// (the caller went away: not the dependency's fault), or something else.
func Fault(dep string, err error) error {
	var e *Error
	switch {
	case err == nil || errors.As(err, &e) || errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, context.DeadlineExceeded):
		return TimedOut(dep, err)
	}
	if msg := diskFault(err); msg != "" {
		return &Error{Code: EUNAVAILABLE, Message: msg, Err: err}
	}
	if netFault(err) {
		return Unavailable(dep, err)
	}
	return err
}

// diskFault returns the message of a local disk error (full, read-only,
// failing), or "".
func diskFault(err error) string {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return ""
	}
	switch errno {
	case syscall.ENOSPC, syscall.EDQUOT:
		return MsgFull
	case syscall.EROFS:
		return MsgReadOnly
	case syscall.EIO:
		return "storage is failing (I/O error); retry in a moment"
	}
	return ""
}

// netFault reports whether err is a network connection that failed: refused,
// reset, cut, timed out, or ended mid-answer.
func netFault(err error) bool {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE,
			syscall.ETIMEDOUT, syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ENETDOWN:
			return true
		}
	}
	var ne net.Error
	var op *net.OpError
	return errors.As(err, &op) || (errors.As(err, &ne) && ne.Timeout()) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF)
}

// IsTransient reports whether err is a dependency's fault that may pass
// (EUNAVAILABLE or ETIMEOUT): the request, or a validation, can be tried
// again later, and the user's data is not to blame.
func IsTransient(err error) bool {
	switch ErrorCode(err) {
	case EUNAVAILABLE, ETIMEOUT:
		return true
	}
	return false
}
