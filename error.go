package silo

import (
	"context"
	"errors"
	"fmt"
)

// Error codes. Each maps to one HTTP status in one table (api/error.go); the
// rest of the code speaks only in these.
const (
	EINVALID        = "invalid"         // 400: malformed request or a parameter Cohere refuses with 400
	EQUOTA          = "quota"           // 400: the upload would exceed the organisation's quota
	EUNAUTHORIZED   = "unauthorized"    // 401: no key, or a key that never existed
	EFORBIDDEN      = "forbidden"       // 403: role too low, or a bad signed URL
	ENOTFOUND       = "not_found"       // 404
	ECONFLICT       = "conflict"        // 409: e.g. a duplicate name, an idempotent create still running
	EUNPROCESSABLE  = "unprocessable"   // 422: well-formed value out of range
	ETOOMANY        = "too_many"        // 429
	EREVOKED        = "revoked"         // 498: a deny-listed (revoked) key
	ECANCELED       = "canceled"        // 499: the client went away
	EINTERNAL       = "internal"        // 500
	ENOTIMPLEMENTED = "not_implemented" // 501
	EUNAVAILABLE    = "unavailable"     // 503
	ETIMEOUT        = "timeout"         // 504: a dependency ran past its deadline

	// Resumable uploads (tus) need a few more.
	ETOOLARGE     = "too_large"    // 413: larger than a dataset may be, or than the upload's length
	EMEDIATYPE    = "media_type"   // 415: a PATCH that is not application/offset+octet-stream
	ELOCKED       = "locked"       // 423: another request is writing to the upload
	ECHECKSUM     = "checksum"     // 460: the body's checksum is not the one sent
	EPRECONDITION = "precondition" // 412: a Tus-Resumable version silo does not speak
)

// Error is an application error: a code for the machine and a message for
// the user. Anything that is not an *Error is internal and its text is never
// shown to users.
type Error struct {
	Code    string
	Message string
	// Err is the cause, for logs and for errors.Is/As (a dependency's
	// driver error behind EUNAVAILABLE, say); never shown to users.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("silo: %s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("silo: %s: %s", e.Code, e.Message)
}

// Unwrap returns the cause, so that code below the service (an outcome
// check that looks for a connection error, say) still sees it.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err: that of the *Error it wraps, ECANCELED or
// ETIMEOUT for context errors, EUNAVAILABLE for a local disk that is full,
// read-only or failing (see Fault), EINTERNAL for anything else, "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return "" // before e: errors.As moves e to the heap on every call
	}
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Code
	case diskFault(err) != "":
		return EUNAVAILABLE
	case errors.Is(err, context.Canceled):
		return ECANCELED
	case errors.Is(err, context.DeadlineExceeded):
		return ETIMEOUT
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of err. Internal errors get a
// generic message: their text may hold internals.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	case diskFault(err) != "":
		return diskFault(err)
	case errors.Is(err, context.Canceled):
		return "request cancelled"
	case errors.Is(err, context.DeadlineExceeded):
		return "an internal service took too long to respond"
	}
	return "internal server error"
}

// QuotaError is an upload refused because it would take its organisation,
// or its project, over its quota. It names the level that refused and its
// numbers so that users can act on it.
type QuotaError struct {
	Project        string // the refusing project's name; "" if the organisation refused
	UsedBytes      int64  // stored
	ReservedBytes  int64  // held by uploads in flight
	LimitBytes     int64  // the quota
	RequestedBytes int64  // what this upload needed (at least)
}

func (e *QuotaError) Error() string {
	who := "the organization"
	if e.Project != "" {
		who = fmt.Sprintf("the project %q", e.Project)
	}
	msg := fmt.Sprintf("You have exceeded capacity: %s uses %s of its %s limit; this upload needs at least %s",
		who, bytesAndSize(e.UsedBytes, "bytes"), bytesAndSize(e.LimitBytes, "byte"), bytesAndSize(e.RequestedBytes, "bytes"))
	if e.ReservedBytes > 0 {
		msg += fmt.Sprintf(", and uploads in progress hold %s more", bytesAndSize(e.ReservedBytes, "bytes"))
	}
	return msg + ". Delete unused datasets or ask for a larger quota."
}

// bytesAndSize renders a byte count exactly and in human units:
// "1,500,000 bytes (1.5 MB)".
func bytesAndSize(n int64, unit string) string {
	return fmt.Sprintf("%s %s (%s)", GroupDigits(n), unit, HumanSize(n))
}

// Unwrap lets errors.As find the *Error behind a QuotaError, so the error
// table and ErrorCode need no special case.
func (e *QuotaError) Unwrap() error { return &Error{Code: EQUOTA, Message: e.Error()} }
