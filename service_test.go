package silo_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/silotest"
)

const rowsJSONL = "{\"text\":\"a\"}\n{\"text\":\"b\"}\n"

func caller(t *testing.T, e *silotest.Env, secret string) *silo.Caller {
	t.Helper()
	k, err := e.Service.Authenticate(context.Background(), secret)
	if err != nil {
		t.Fatal(err)
	}
	return &silo.Caller{Key: k}
}

func upload(ctx context.Context, s *silo.Service, c *silo.Caller, data string) (*silo.Dataset, error) {
	u, err := s.BeginUpload(ctx, c, silo.UploadRequest{Name: "d", Type: silo.TypeEmbedInput, ContentLength: -1,
		Params: silo.CreateParams{KeepOriginalFile: true}})
	if err != nil {
		return nil, err
	}
	defer u.Abort()
	if err := u.AddFile(ctx, silo.PartTrain, "d.jsonl", strings.NewReader(data)); err != nil {
		return nil, err
	}
	return u.Commit(ctx)
}

// TestServiceRoles: every service operation checks the caller's role, in
// the service, whatever the transport.
func TestServiceRoles(t *testing.T) {
	e := silotest.Start(t, silotest.Options{})
	orgID, _ := e.Org(t, "acme", 0, silo.RoleReader)
	ctx := t.Context()
	ops := map[string]struct {
		need silo.Role
		call func(c *silo.Caller) error
	}{
		"usage":   {silo.RoleReader, func(c *silo.Caller) error { _, _, err := e.Service.Usage(ctx, c); return err }},
		"history": {silo.RoleReader, func(c *silo.Caller) error { _, err := e.Service.UsageHistory(ctx, c, time.Time{}, 10); return err }},
		"list": {silo.RoleReader, func(c *silo.Caller) error {
			return e.Service.Datasets(ctx, c, silo.DatasetFilter{}, func(*silo.Dataset) error { return nil })
		}},
		"get":     {silo.RoleReader, func(c *silo.Caller) error { _, err := e.Service.Dataset(ctx, c, "x-abcdef"); return err }},
		"create":  {silo.RoleWriter, func(c *silo.Caller) error { _, err := upload(ctx, e.Service, c, rowsJSONL); return err }},
		"delete":  {silo.RoleWriter, func(c *silo.Caller) error { return e.Service.DeleteDataset(ctx, c, "x-abcdef") }},
		"orgs":    {silo.RoleAdmin, func(c *silo.Caller) error { _, err := e.Service.Orgs(ctx, c); return err }},
		"new org": {silo.RoleAdmin, func(c *silo.Caller) error { _, err := e.Service.CreateOrg(ctx, c, silo.NewID("o"), nil); return err }},
		"quota":   {silo.RoleAdmin, func(c *silo.Caller) error { _, err := e.Service.SetQuota(ctx, c, orgID, 5e9); return err }},
		"new key": {silo.RoleAdmin, func(c *silo.Caller) error {
			_, err := e.Service.CreateKey(ctx, c, orgID, "", silo.RoleReader, "")
			return err
		}},
		"keys":      {silo.RoleAdmin, func(c *silo.Caller) error { _, err := e.Service.Keys(ctx, c, ""); return err }},
		"revoke":    {silo.RoleAdmin, func(c *silo.Caller) error { _, err := e.Service.RevokeKey(ctx, c, "key_nope"); return err }},
		"no caller": {silo.Role("none"), func(*silo.Caller) error { _, _, err := e.Service.Usage(ctx, nil); return err }},
	}
	for _, role := range []silo.Role{silo.RoleReader, silo.RoleWriter, silo.RoleAdmin} {
		c := caller(t, e, e.Key(t, orgID, role))
		for name, op := range ops {
			err := op.call(c)
			switch code := silo.ErrorCode(err); {
			case op.need == "none":
				if code != silo.EUNAUTHORIZED {
					t.Errorf("%s: %v", name, err)
				}
			case role.Includes(op.need):
				if code == silo.EFORBIDDEN {
					t.Errorf("%s as %s: forbidden (%v)", name, role, err)
				}
			case code != silo.EFORBIDDEN:
				t.Errorf("%s as %s: got %v, want forbidden", name, role, err)
			}
		}
	}
}

// TestDeadNodeSweep: an upload whose node died (its lease ran out) is
// released by another node's sweep: bytes back, partial blob gone.
func TestDeadNodeSweep(t *testing.T) {
	e := silotest.Start(t, silotest.Options{})
	orgID, key := e.Org(t, "acme", 1000, silo.RoleWriter)
	ctx := t.Context()
	dead := &silo.Service{Store: e.Store, Blobs: e.Blobs, Node: "dead-node", LeaseTTL: time.Millisecond}
	u, err := dead.BeginUpload(ctx, caller(t, e, key), silo.UploadRequest{Name: "d", Type: silo.TypeEmbedInput, ContentLength: 600 + silo.MultipartSlack})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	go func() {
		if _, err := pw.Write(bytes.Repeat([]byte("x"), 300)); err != nil {
			return // AddFile gave up first; it fails either way
		}
		pw.CloseWithError(io.ErrUnexpectedEOF)
	}()
	if err := u.AddFile(ctx, silo.PartTrain, "", pr); err == nil { // the "node" dies mid-upload, no Abort
		t.Fatal("AddFile of a file cut off midway succeeded")
	}
	if o := e.Usage(t, orgID); o.ReservedBytes == 0 {
		t.Fatalf("nothing reserved: %+v", o)
	}
	time.Sleep(5 * time.Millisecond) // let the 1 ms lease run out
	if err := e.Service.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if o := e.Usage(t, orgID); o.ReservedBytes != 0 || o.UsedBytes != 0 {
		t.Fatalf("after the sweep: %+v", o)
	}
	if res, err := e.Store.Reservations(ctx); err != nil || len(res) != 0 {
		t.Fatalf("reservations left: %+v (%v)", res, err)
	}
	n := 0
	if err := e.Store.Blobs(ctx, func(string, silo.BlobState) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d ledger rows left", n)
	}
}

// TestRetention: a dataset past its retention is deleted by the sweep and
// its bytes leave usage at that moment.
func TestRetention(t *testing.T) {
	e := silotest.Start(t, silotest.Options{Retention: time.Hour})
	orgID, key := e.Org(t, "acme", 0, silo.RoleWriter)
	ctx := t.Context()
	d, err := upload(ctx, e.Service, caller(t, e, key), rowsJSONL)
	if err != nil {
		t.Fatal(err)
	}
	if d.ExpiresAt == nil || d.ExpiresAt.Sub(d.CreatedAt) != time.Hour {
		t.Fatalf("expires_at %v", d.ExpiresAt)
	}
	if err := e.Service.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if o := e.Usage(t, orgID); o.UsedBytes != int64(len(rowsJSONL)) {
		t.Fatalf("swept early: %+v", o)
	}
	later := &silo.Service{Store: e.Store, Blobs: e.Blobs, Node: "later", Retention: time.Hour,
		Now: func() time.Time { return time.Now().Add(2 * time.Hour) }}
	if err := later.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if o := e.Usage(t, orgID); o.UsedBytes != 0 {
		t.Fatalf("after expiry: %+v", o)
	}
	if _, err := e.Store.Dataset(ctx, orgID, d.ID); silo.ErrorCode(err) != silo.ENOTFOUND {
		t.Fatalf("expired dataset still there: %v", err)
	}
}

// TestDatasetSizeCap: a dataset over the per-dataset cap is refused with
// 400, early with a Content-Length, while streaming without one.
func TestDatasetSizeCap(t *testing.T) {
	e := silotest.Start(t, silotest.Options{MaxDatasetSize: 100})
	orgID, key := e.Org(t, "acme", 0, silo.RoleWriter)
	ctx := t.Context()
	_, err := upload(ctx, e.Service, caller(t, e, key), strings.Repeat(rowsJSONL, 10))
	if silo.ErrorCode(err) != silo.EINVALID || !strings.Contains(silo.ErrorMessage(err), "too large") {
		t.Fatalf("streamed over the cap: %v", err)
	}
	_, err = e.Service.BeginUpload(ctx, caller(t, e, key), silo.UploadRequest{Name: "d", Type: silo.TypeEmbedInput, ContentLength: 1 << 30})
	if silo.ErrorCode(err) != silo.EINVALID {
		t.Fatalf("Content-Length over the cap: %v", err)
	}
	if o := e.Usage(t, orgID); o.UsedBytes != 0 || o.ReservedBytes != 0 {
		t.Fatalf("usage %+v", o)
	}
}

// TestDeleteDuringValidation: deleting a dataset while a worker validates
// it stops the worker and leaves nothing behind: no ledger row, no blob,
// no temp file, no usage.
func TestDeleteDuringValidation(t *testing.T) {
	e := silotest.Start(t, silotest.Options{})
	orgID, key := e.Org(t, "acme", 0, silo.RoleWriter)
	ctx := t.Context()
	var b strings.Builder
	for i := 0; b.Len() < 40<<20; i++ {
		fmt.Fprintf(&b, `{"messages":[{"role":"User","content":"question %d"},{"role":"Chatbot","content":"answer %d"}]}`+"\n", i, i)
	}
	c := caller(t, e, key)
	u, err := e.Service.BeginUpload(ctx, c, silo.UploadRequest{Name: "big", Type: silo.TypeChatFinetune, ContentLength: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := u.AddFile(ctx, silo.PartTrain, "big.jsonl", strings.NewReader(b.String())); err != nil {
		t.Fatal(err)
	}
	d, err := u.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for {
		got, err := e.Store.Dataset(ctx, orgID, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == silo.StatusProcessing {
			break
		}
		if got.Status.Final() {
			t.Fatalf("validation ended (%s) before the delete; make the file larger", got.Status)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := e.Service.DeleteDataset(ctx, c, d.ID); err != nil {
		t.Fatal(err)
	}
	e.WaitJobs(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := e.Service.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		rows := 0
		if err := e.Store.Blobs(ctx, func(string, silo.BlobState) error { rows++; return nil }); err != nil {
			t.Fatal(err)
		}
		files, err := os.ReadDir(filepath.Join(e.Dir, "blobs", "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		tmp, err := os.ReadDir(filepath.Join(e.Dir, "blobs", "tmp"))
		if err != nil {
			t.Fatal(err)
		}
		if rows == 0 && len(files) == 0 && len(tmp) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("left behind: %d ledger rows, %d blobs, %d temp files", rows, len(files), len(tmp))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if o := e.Usage(t, orgID); o.UsedBytes != 0 || o.ReservedBytes != 0 {
		t.Fatalf("usage %+v", o)
	}
}
