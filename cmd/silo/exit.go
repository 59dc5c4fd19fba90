package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/silo-datasets/silo/client"
)

// Exit statuses of the client commands (usage, datasets, admin). The
// contract (CONTRACT.md, "Command line client") fixes "errors exit with
// status 1", and scripts written against it test for 1; so a client command
// tells the kinds of failure apart by these statuses only when asked to,
// with --exit-codes=detailed or SILO_EXIT_CODES=detailed. The help text
// lists them (exitCodesHelp). serve, fsck and the other operator commands
// exit 1 on any error.
const (
	exitOK          = 0
	exitFailed      = 1 // the dataset failed validation (upload --wait)
	exitError       = 2 // any other error: bad arguments, a local file, a server error
	exitNotFound    = 3 // no such dataset, organisation, key, part or local file
	exitRefused     = 4 // the server refused the request (bad request, over quota, key or role), or the CLI did (an existing file)
	exitUnavailable = 5 // the server cannot be reached, is overloaded, draining, or a dependency of it is down: retry later
)

const exitCodesHelp = `Exit status: 0 on success, 1 on any error. With --exit-codes=detailed (or
SILO_EXIT_CODES=detailed) the status says what kind of failure it was:
  0  success
  1  the dataset failed validation (datasets upload --wait)
  2  any other error: bad arguments, a local file that cannot be read or written, a server error
  3  not found: the dataset, organisation, key or file does not exist
  4  refused: the server refused the request (HTTP 400, 401, 403, 409, 422, 498: a bad request, over
     quota, a wrong key or role), or the command did (download onto an existing file without --force)
  5  unavailable: the server cannot be reached, is overloaded or draining, or its storage is down
     (HTTP 429, 502, 503, 504): try again later
Errors are one line on stderr; with --json, one JSON object on stderr:
  {"message": "...", "kind": "not_found", "exit_code": 3, "status": 404, "request_id": "..."}
  ("kind" is there whatever --exit-codes says; "exit_code" is the status the command exits with).`

// exitErr is an error with the exit status it ends the command with.
type exitErr struct {
	code int
	err  error
}

func (e *exitErr) Error() string { return e.err.Error() }
func (e *exitErr) Unwrap() error { return e.err }

func withExit(code int, err error) error { return &exitErr{code: code, err: err} }

func notFoundf(format string, args ...any) error {
	return withExit(exitNotFound, fmt.Errorf(format, args...))
}

func refusedf(format string, args ...any) error {
	return withExit(exitRefused, fmt.Errorf(format, args...))
}

// exitCode is the exit status err ends a command with.
func exitCode(err error) int {
	var ee *exitErr
	var ae *client.Error
	var oe *net.OpError
	var de *net.DNSError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ae):
		return statusExit(ae.Status)
	case errors.Is(err, os.ErrNotExist):
		return exitNotFound
	case errors.As(err, &oe), errors.As(err, &de):
		return exitUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		return exitUnavailable
	}
	return exitError
}

func statusExit(status int) int {
	switch {
	case status == http.StatusNotFound:
		return exitNotFound
	case status == http.StatusTooManyRequests || status == http.StatusBadGateway ||
		status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout:
		return exitUnavailable
	case status >= 400 && status < 500 || status == 498:
		return exitRefused
	}
	return exitError
}

// jsonError is the one JSON object --json prints on stderr for an error:
// the API's {"message"} and what a script needs besides.
type jsonError struct {
	Message   string `json:"message"`
	ExitCode  int    `json:"exit_code"`
	Kind      string `json:"kind"` // failed, error, not_found, refused or unavailable, whatever the exit status
	Status    int    `json:"status,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// report writes err as the command's user sees it, on stderr: one line
// ("silo: ..."), or with --json one JSON object. It returns the exit status:
// 1, or with detailed exit codes the kind of failure.
func report(stderr io.Writer, cmd *cobra.Command, err error) int {
	code := exitCode(err)
	if cmd == nil || cmd.Flag("url") == nil || !detailedExitCodes(cmd) {
		code = 1 // not a client command, or the contract's plain status
	}
	if !wantsJSON(cmd) {
		fmt.Fprintln(stderr, "silo:", oneLine(err.Error()))
		return code
	}
	out := jsonError{Message: oneLine(err.Error()), ExitCode: code, Kind: exitKinds[exitCode(err)]}
	var ae *client.Error
	if errors.As(err, &ae) {
		out.Status, out.RequestID = ae.Status, ae.RequestID
		if ae.Message != "" {
			out.Message = oneLine(ae.Message)
		}
	}
	b, merr := json.Marshal(out)
	if merr != nil {
		fmt.Fprintln(stderr, "silo:", oneLine(err.Error()))
		return code
	}
	fmt.Fprintln(stderr, string(b))
	return code
}

// wantsJSON reports whether the command that failed was given --json.
func wantsJSON(cmd *cobra.Command) bool {
	if cmd == nil {
		return false
	}
	f := cmd.Flag("json")
	return f != nil && f.Value.String() == "true"
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// exitKinds names each kind of failure for --json, so that a script can tell
// them apart without detailed exit codes too.
var exitKinds = map[int]string{
	exitFailed:      "failed",
	exitError:       "error",
	exitNotFound:    "not_found",
	exitRefused:     "refused",
	exitUnavailable: "unavailable",
}

// exitCodesFlag is the root's persistent flag that asks for detailed exit
// statuses.
const exitCodesFlag = "exit-codes"

// detailedExitCodes reports whether the command was asked for detailed exit
// statuses.
func detailedExitCodes(cmd *cobra.Command) bool {
	f := cmd.Flag(exitCodesFlag)
	return f != nil && f.Value.String() == "detailed"
}
