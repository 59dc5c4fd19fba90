package silo_test

import (
	"strings"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
)

func TestRoles(t *testing.T) {
	for _, tc := range []struct {
		have, need silo.Role
		ok         bool
	}{
		{silo.RoleReader, silo.RoleReader, true},
		{silo.RoleReader, silo.RoleWriter, false},
		{silo.RoleWriter, silo.RoleReader, true},
		{silo.RoleWriter, silo.RoleAdmin, false},
		{silo.RoleAdmin, silo.RoleWriter, true},
		{"owner", silo.RoleReader, false},
		{"", silo.RoleReader, false},
	} {
		if got := tc.have.Includes(tc.need); got != tc.ok {
			t.Errorf("%q includes %q = %v, want %v", tc.have, tc.need, got, tc.ok)
		}
	}
}

func TestCheckUpload(t *testing.T) {
	ok := silo.UploadRequest{Name: "n", Type: silo.TypeEmbedInput}
	with := func(f func(*silo.UploadRequest)) silo.UploadRequest { r := ok; f(&r); return r }
	for _, tc := range []struct {
		name string
		req  silo.UploadRequest
		msg  string // "" = valid
	}{
		{"valid", ok, ""},
		{"no name", with(func(r *silo.UploadRequest) { r.Name = "" }), "The name parameter must be set."},
		{"blank name", with(func(r *silo.UploadRequest) { r.Name = "  " }), "The name parameter must be set."},
		{"49 chars", with(func(r *silo.UploadRequest) { r.Name = strings.Repeat("é", 49) }), ""},
		{"50 chars", with(func(r *silo.UploadRequest) { r.Name = strings.Repeat("é", 50) }), "less than 50 characters"},
		{"no type", with(func(r *silo.UploadRequest) { r.Type = "" }), "The type parameter must be set."},
		{"unknown type", with(func(r *silo.UploadRequest) { r.Type = "prompt-completion-finetune-input" }), "The dataset type is invalid"},
		{"every enum type", with(func(r *silo.UploadRequest) { r.Type = silo.TypeBatchChatV2Input }), ""},
		{"tab delimiter", with(func(r *silo.UploadRequest) { r.Params.CSVDelimiter = "\t" }), ""},
		{"unicode delimiter", with(func(r *silo.UploadRequest) { r.Params.CSVDelimiter = "§" }), ""},
		{"long delimiter", with(func(r *silo.UploadRequest) { r.Params.CSVDelimiter = ";;" }), "invalid csv delimiter"},
	} {
		err := silo.CheckUpload(tc.req)
		if tc.msg == "" && err != nil || tc.msg != "" && (silo.ErrorCode(err) != silo.EINVALID || !strings.Contains(silo.ErrorMessage(err), tc.msg)) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.msg)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"10GB": 10_000_000_000, "10GiB": 10 << 30, "1.5GB": 1_500_000_000, "0": 0, "512": 512,
		"64kib": 64 << 10, "2 MB": 2_000_000, "1T": 1e12, "7b": 7,
	} {
		got, err := silo.ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "GB", "-1", "ten", "1e400", "NaN", "1.5.5GB", "99999999999TB"} {
		if _, err := silo.ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"30d": 30 * 24 * time.Hour, "0": 0, "1h": time.Hour, "1d12h": 36 * time.Hour, "90m": 90 * time.Minute,
	} {
		got, err := silo.ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "d", "-1h", "soon", "1dd"} {
		if _, err := silo.ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 3_200_000_000: "3.2 GB", 10_000_000_000: "10.0 GB", 1500: "1.5 kB"} {
		if got := silo.FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestDatasetIDs(t *testing.T) {
	for name, slug := range map[string]string{
		"sample_file": "sample-file", "My Embeddings!": "my-embeddings", "  ": "dataset", "Ünïcode 2": "n-code-2", "a--b": "a-b",
	} {
		if got := silo.Slugify(name); got != slug {
			t.Errorf("Slugify(%q) = %q, want %q", name, got, slug)
		}
		id := silo.NewDatasetID(name)
		if !strings.HasPrefix(id, slug+"-") || len(id) != len(slug)+7 || strings.ToLower(id) != id {
			t.Errorf("NewDatasetID(%q) = %q", name, id)
		}
	}
	for _, k := range []string{silo.NewBlobKey(), silo.NewBlobKey()} {
		if !silo.ValidBlobKey(k) {
			t.Errorf("NewBlobKey gave invalid %q", k)
		}
	}
	if a, b := silo.NewSecret(), silo.NewSecret(); a == b || len(a) < 5+32 {
		t.Errorf("secrets %q %q", a, b)
	}
}
