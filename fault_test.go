package silo_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
)

// Errors as the OS and the network really produce them are classified as
// the one table says, and no message shows a path or an address.
func TestFaultClassifiesRealErrors(t *testing.T) {
	dir := t.TempDir()
	// A real ENOENT (not a fault) and a real connection refused.
	_, enoent := os.Open(dir + "/missing")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, refused := net.DialTimeout("tcp", addr, time.Second)
	if refused == nil {
		t.Fatal("dialing a closed port succeeded")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()

	for _, tc := range []struct {
		name string
		err  error
		code string
		msg  string // a part of the message
	}{
		{"nil", nil, "", ""},
		{"enospc", &os.PathError{Op: "write", Path: dir + "/blobs/x", Err: syscall.ENOSPC}, silo.EUNAVAILABLE, "storage is full"},
		{"edquot", fmt.Errorf("disk: %w", &os.PathError{Op: "write", Path: dir, Err: syscall.EDQUOT}), silo.EUNAVAILABLE, "storage is full"},
		{"erofs", &os.PathError{Op: "open", Path: dir, Err: syscall.EROFS}, silo.EUNAVAILABLE, "read-only"},
		{"eio", &os.PathError{Op: "fsync", Path: dir, Err: syscall.EIO}, silo.EUNAVAILABLE, "I/O error"},
		{"refused", refused, silo.EUNAVAILABLE, "the database is unavailable"},
		{"deadline", fmt.Errorf("query: %w", ctx.Err()), silo.ETIMEOUT, "did not answer in time"},
		{"canceled", canceled.Err(), silo.ECANCELED, ""},
		{"enoent", enoent, silo.EINTERNAL, "internal server error"},
		{"own error", silo.Errorf(silo.ENOTFOUND, "no such dataset"), silo.ENOTFOUND, "no such dataset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := silo.Fault(silo.DepDatabase, tc.err)
			if code := silo.ErrorCode(got); code != tc.code {
				t.Fatalf("code %q, want %q (%v)", code, tc.code, got)
			}
			msg := silo.ErrorMessage(got)
			if !strings.Contains(msg, tc.msg) {
				t.Errorf("message %q does not say %q", msg, tc.msg)
			}
			if strings.Contains(msg, dir) || strings.Contains(msg, addr) || strings.Contains(msg, "127.0.0.1") {
				t.Errorf("message %q shows internals", msg)
			}
			if want := tc.code == silo.EUNAVAILABLE || tc.code == silo.ETIMEOUT; silo.IsTransient(got) != want {
				t.Errorf("IsTransient = %v, want %v", !want, want)
			}
			if tc.err != nil && !errors.Is(got, tc.err) {
				t.Errorf("the cause is lost: %v", got)
			}
		})
	}
}

// A raw disk error that no store wrapped is still never a 500: the error
// table classifies it too.
func TestErrorCodeOfRawDiskErrors(t *testing.T) {
	err := fmt.Errorf("copy: %w", &os.PathError{Op: "write", Path: "/x", Err: syscall.ENOSPC})
	if code := silo.ErrorCode(err); code != silo.EUNAVAILABLE {
		t.Fatalf("code %q, want unavailable", code)
	}
	if msg := silo.ErrorMessage(err); !strings.Contains(msg, "storage is full") || strings.Contains(msg, "/x") {
		t.Fatalf("message %q", msg)
	}
}
