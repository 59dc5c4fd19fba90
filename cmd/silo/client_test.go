package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/siloproc"
	"github.com/silo-datasets/silo/internal/silotest"
)

// cli runs one silo command in-process against the server in env, as a
// user would from a shell, and returns stdout, stderr and the error main
// would print (exit 1).
func cli(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCommand()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	err := root.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}

func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, err := cli(t, args...)
	if err != nil {
		t.Fatalf("silo %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return out
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func startCLIServer(t *testing.T) *silotest.Env {
	e := silotest.Start(t, silotest.Options{})
	t.Setenv("SILO_URL", e.URL)
	t.Setenv("SILO_API_KEY", e.AdminKey)
	waitInterval = 10 * time.Millisecond
	return e
}

// TestDatasetsCLI walks a user's session: upload with --wait, list, get,
// download byte for byte and as Avro, usage with its breakdown, delete.
func TestDatasetsCLI(t *testing.T) {
	startCLIServer(t)
	data := "{\"text\":\"hello\"}\n{\"text\":\"world\"}\n"
	file := writeFile(t, "emb.jsonl", data)
	eval := writeFile(t, "eval.jsonl", "{\"text\":\"e\"}\n")

	out := mustCLI(t, "datasets", "upload", file, "--name", "my emb", "--type", "embed-input", "--eval", eval, "--wait")
	m := regexp.MustCompile(`dataset (my-emb-\w{6}) validated: 3 rows`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("upload --wait printed %q", out)
	}
	id := m[1]

	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"datasets", "list"}, []string{"ID", "STATUS", id, "embed-input", "validated", "3", "47 B"}},
		{[]string{"datasets", "list", "--status", "failed"}, []string{"no datasets"}},
		{[]string{"datasets", "get", id}, []string{"Status   validated", "emb.jsonl", "eval.jsonl", "train", "eval"}},
		{[]string{"usage"}, []string{"47 B of 10 GB used (0%)", "By dataset type", "embed-input", "By client", "silo-cli"}},
	} {
		out := mustCLI(t, tc.args...)
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("silo %s: no %q in\n%s", strings.Join(tc.args, " "), w, out)
			}
		}
	}

	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		file string
		want func([]byte) bool
	}{
		{[]string{"-o", filepath.Join(dir, "a.jsonl")}, "a.jsonl", func(b []byte) bool { return string(b) == data }},
		{[]string{"--eval", "-o", filepath.Join(dir, "e.jsonl")}, "e.jsonl", func(b []byte) bool { return string(b) == "{\"text\":\"e\"}\n" }},
		{[]string{"--avro", "-o", filepath.Join(dir, "a.avro")}, "a.avro", func(b []byte) bool { return bytes.HasPrefix(b, []byte("Obj\x01")) }},
	} {
		mustCLI(t, append([]string{"datasets", "download", id}, tc.args...)...)
		b, err := os.ReadFile(filepath.Join(dir, tc.file))
		if err != nil || !tc.want(b) {
			t.Errorf("download %v: %q, %v", tc.args, b, err)
		}
	}
	if out := mustCLI(t, "datasets", "download", id, "-o", "-"); out != data {
		t.Errorf("download -o - printed %q", out)
	}

	var u struct {
		OrganizationUsage int64 `json:"organization_usage"`
		LimitBytes        int64 `json:"limit_bytes"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, "usage", "--json")), &u); err != nil || u.OrganizationUsage != 47 || u.LimitBytes != silo.DefaultQuotaBytes {
		t.Errorf("usage --json: %+v, %v", u, err)
	}
	if out := mustCLI(t, "datasets", "delete", id); !strings.Contains(out, "deleted dataset "+id) {
		t.Errorf("delete printed %q", out)
	}
	if out := mustCLI(t, "usage"); !strings.HasPrefix(out, "0 B of 10 GB used") {
		t.Errorf("usage after delete: %q", out)
	}
}

// TestCLIErrors: every failure is an error (one line) that says what to
// do, with the exit status of its kind; a refused upload stores nothing.
func TestCLIErrors(t *testing.T) {
	e := startCLIServer(t)
	bad := writeFile(t, "bad.jsonl", "x\n")
	gz := writeFile(t, "data.jsonl.gz", "\x1f\x8b\x08\x00 not really gzip")
	big := writeFile(t, "big.jsonl", strings.Repeat("{\"text\":\"0123456789\"}\n", 100))
	mustCLI(t, "admin", "orgs", "create", "small", "--quota", "1kB")
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
		exit int
	}{
		{"validation failure", nil,
			[]string{"datasets", "upload", bad, "--name", "bad", "--type", "chat-finetune-input", "--wait"}, "failed validation: ", exitFailed},
		{"unknown dataset", nil, []string{"datasets", "get", "nope-123456"}, "The dataset with id 'nope-123456' was not found. (HTTP 404)", exitNotFound},
		{"no key", map[string]string{"SILO_API_KEY": ""}, []string{"usage"}, "SILO_API_KEY is not set", exitError},
		{"bad key", map[string]string{"SILO_API_KEY": "silo_wrong"}, []string{"usage"}, "(HTTP 401)", exitRefused},
		{"no server", map[string]string{"SILO_URL": "http://127.0.0.1:1"}, []string{"usage"}, "cannot reach silo at http://127.0.0.1:1", exitUnavailable},
		{"bad quota size", nil, []string{"admin", "orgs", "create", "x", "--quota", "lots"}, "--quota: invalid size", exitError},
		{"missing type", nil, []string{"datasets", "upload", bad, "--name", "x"}, `required flag(s) "type" not set`, exitError},
		{"missing file", nil, []string{"datasets", "upload", "/nonexistent.jsonl", "--name", "x", "--type", "embed-input"}, "no such file", exitNotFound},
		{"unreadable file", nil, []string{"datasets", "upload", gz, "--name", "gz", "--type", "embed-input"},
			`The data file "data.jsonl.gz" cannot be read: silo reads .jsonl, .json, .csv and .txt files, not .gz. The dataset type embed-input accepts jsonl, csv or txt files; upload it uncompressed in one of those formats. (HTTP 400)`, exitRefused},
		{"over quota", nil, []string{"datasets", "upload", big, "--name", "big", "--type", "embed-input"},
			"You have exceeded capacity: the organization uses 2 bytes (2 B) of its 1,000 byte (1 kB) limit; this upload needs at least 2,200 bytes (2.2 kB).", exitRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			if tc.name == "over quota" {
				lowerQuota(t)
			}
			before, used := datasetCount(t, e), e.Usage(t, e.Admin(t).OrgID()).UsedBytes
			_, _, err := cli(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("silo %s: error %v, want one line with %q", strings.Join(tc.args, " "), err, tc.want)
			}
			if got := exitCode(err); got != tc.exit {
				t.Errorf("exit status %d, want %d", got, tc.exit)
			}
			if tc.exit == exitRefused && tc.args[0] == "datasets" {
				if n := datasetCount(t, e); n != before {
					t.Errorf("a refused upload stored a dataset (%d, was %d)", n, before)
				}
				if u := e.Usage(t, e.Admin(t).OrgID()); u.UsedBytes != used || u.ReservedBytes != 0 {
					t.Errorf("a refused upload counted: used %d (was %d), reserved %d", u.UsedBytes, used, u.ReservedBytes)
				}
			}
		})
	}
}

// datasetCount counts the default organisation's datasets in the store.
func datasetCount(t *testing.T, e *silotest.Env) int {
	t.Helper()
	n := 0
	err := e.Store.Datasets(t.Context(), silo.DatasetFilter{OrgID: e.Admin(t).OrgID()}, func(*silo.Dataset) error { n++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// lowerQuota gives the default organisation a 1 kB quota.
func lowerQuota(t *testing.T) {
	t.Helper()
	var orgs struct {
		Orgs []struct{ ID, Name string } `json:"orgs"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, "admin", "orgs", "list", "--json")), &orgs); err != nil {
		t.Fatal(err)
	}
	for _, o := range orgs.Orgs {
		if o.Name == "default" {
			if out := mustCLI(t, "admin", "orgs", "set-quota", o.ID, "1kB"); !strings.Contains(out, "1 kB") {
				t.Fatalf("set-quota printed %q", out)
			}
		}
	}
}

// TestAdminCLI: organisations and keys, and a created key that works until
// it is revoked.
func TestAdminCLI(t *testing.T) {
	e := startCLIServer(t)
	var org struct {
		ID         string `json:"id"`
		QuotaBytes int64  `json:"quota_bytes"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, "admin", "orgs", "create", "acme", "--quota", "2GiB", "--json")), &org); err != nil || org.QuotaBytes != 2<<30 {
		t.Fatalf("orgs create --json: %+v, %v", org, err)
	}
	if out := mustCLI(t, "admin", "orgs", "list"); !strings.Contains(out, "acme") || !strings.Contains(out, "2.1 GB") {
		t.Errorf("orgs list:\n%s", out)
	}
	out := mustCLI(t, "admin", "keys", "create", "--org", org.ID, "--role", "reader", "--name", "ci")
	m := regexp.MustCompile(`created reader key (key_\w+) for organisation .*\n.*\n\n    (silo_\w+)\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("keys create printed %q", out)
	}
	keyID, secret := m[1], m[2]
	if out := mustCLI(t, "admin", "keys", "list", "--org", org.ID); !strings.Contains(out, keyID) || strings.Contains(out, secret) {
		t.Errorf("keys list:\n%s", out)
	}
	t.Setenv("SILO_API_KEY", secret)
	if out := mustCLI(t, "usage"); !strings.HasPrefix(out, "0 B of 2.1 GB used") {
		t.Errorf("usage with the new key: %q", out)
	}
	if _, _, err := cli(t, "admin", "orgs", "list"); err == nil || !strings.Contains(err.Error(), "HTTP 403") {
		t.Errorf("a reader listing orgs: %v", err)
	}
	t.Setenv("SILO_API_KEY", e.AdminKey)
	mustCLI(t, "admin", "keys", "revoke", keyID)
	t.Setenv("SILO_API_KEY", secret)
	if _, _, err := cli(t, "usage"); err == nil || !strings.Contains(err.Error(), "HTTP 498") {
		t.Errorf("a revoked key: %v", err)
	}
}

// TestCompletion: cobra's shell completion scripts and the dynamic
// completion of flags.
func TestCompletion(t *testing.T) {
	if out := mustCLI(t, "completion", "bash"); !strings.Contains(out, "__start_silo") {
		t.Errorf("completion bash: %.200q", out)
	}
	if out := mustCLI(t, "__complete", "datasets", "upload", "f", "--type", "chat"); !strings.Contains(out, "chat-finetune-input") {
		t.Errorf("--type completion: %q", out)
	}
}

// TestCLIExit: the built binary reports an error as one line on stderr,
// prefixed "silo:", with the exit status of its kind (3: not found), and
// prints nothing on stdout; with --json the error is one JSON object on
// stderr.
func TestCLIExit(t *testing.T) {
	e := silotest.Start(t, silotest.Options{})
	bin := siloproc.Binary(t)
	run := func(args ...string) (int, string, string) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "SILO_URL="+e.URL, "SILO_API_KEY="+e.AdminKey, "SILO_EXIT_CODES=detailed")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("silo %v: %v, want an exit status", args, err)
		}
		return exit.ExitCode(), stdout.String(), stderr.String()
	}
	// The contract's plain status first: every error exits 1.
	for _, args := range [][]string{{"datasets", "get", "nope-123456", "--exit-codes=plain"}, {"datasets", "get", "nope-123456", "--exit-codes=plain", "--json"}} {
		if code, _, stderr := run(args...); code != 1 {
			t.Fatalf("silo %v: exit %d (%s), want 1", args, code, stderr)
		}
	}
	code, stdout, stderr := run("datasets", "get", "nope-123456")
	want := "silo: The dataset with id 'nope-123456' was not found. (HTTP 404)\n"
	if code != exitNotFound || stderr != want || stdout != "" {
		t.Fatalf("exit %d, stderr %q, stdout %q; want exit 3, stderr %q", code, stderr, stdout, want)
	}
	code, stdout, stderr = run("datasets", "get", "nope-123456", "--json")
	var j struct {
		Message   string `json:"message"`
		Kind      string `json:"kind"`
		ExitCode  int    `json:"exit_code"`
		Status    int    `json:"status"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(stderr), &j); err != nil || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("--json stderr %q is not one JSON object: %v", stderr, err)
	}
	if code != exitNotFound || stdout != "" || j.Message != "The dataset with id 'nope-123456' was not found." ||
		j.ExitCode != exitNotFound || j.Kind != "not_found" || j.Status != 404 || j.RequestID == "" {
		t.Fatalf("--json: exit %d, stdout %q, error %+v", code, stdout, j)
	}
	for _, args := range [][]string{{"--help"}, {"datasets", "download", "--help"}, {"datasets", "upload", "--help"}, {"admin", "orgs", "delete", "--help"}} {
		help := helpText(t, args...)
		for _, w := range []string{"Exit status:", "1 on any error", "--exit-codes=detailed", "1  the dataset failed validation", "3  not found", "4  refused", "5  unavailable", `"exit_code"`} {
			if !strings.Contains(help, w) {
				t.Errorf("silo %s does not document %q", strings.Join(args, " "), w)
			}
		}
	}
}

// helpText is a command's --help as printed.
func helpText(t *testing.T, args ...string) string {
	t.Helper()
	out, _, err := cli(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDownloadChecksum: a download whose bytes do not match the part's
// SHA-256 fails and leaves no file behind.
func TestDownloadChecksum(t *testing.T) {
	e := startCLIServer(t)
	file := writeFile(t, "d.jsonl", "{\"text\":\"original\"}\n")
	out := mustCLI(t, "datasets", "upload", file, "--name", "sum", "--type", "embed-input", "--wait")
	id := strings.Fields(out)[1]
	orgID := e.Admin(t).OrgID()
	d, err := e.Store.Dataset(t.Context(), orgID, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Blobs.Put(t.Context(), d.Parts[0].BlobKey, strings.NewReader("{\"text\":\"tampered\"}\n")); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "out.jsonl")
	_, _, err = cli(t, "datasets", "download", id, "-o", dst)
	if err == nil || !strings.Contains(err.Error(), "does not match its SHA-256") {
		t.Fatalf("download of a tampered blob: %v", err)
	}
	if entries, err := os.ReadDir(filepath.Dir(dst)); err != nil || len(entries) != 0 {
		t.Fatalf("a failed download left %v (%v)", entries, err)
	}
}
