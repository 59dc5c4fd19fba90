package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/silotest"
)

// TestOrgsByName: every admin command takes an organisation by id or by
// name; keys list shows names; a name that matches nothing or could mean
// two organisations is the same error, with the same exit status, in every
// command, and changes nothing.
func TestOrgsByName(t *testing.T) {
	e := startCLIServer(t)
	ctx := t.Context()
	mustCLI(t, "admin", "orgs", "create", "acme", "--quota", "1GB")
	if out := mustCLI(t, "admin", "orgs", "set-quota", "acme", "2GB"); !strings.Contains(out, "acme") || !strings.Contains(out, "2 GB") {
		t.Fatalf("set-quota acme 2GB printed %q", out)
	}
	acme := orgNamed(t, e, "acme")
	if acme.QuotaBytes != 2_000_000_000 {
		t.Fatalf("quota %d after set-quota acme 2GB", acme.QuotaBytes)
	}
	if out := mustCLI(t, "admin", "orgs", "set-quota", acme.ID, "3GB"); !strings.Contains(out, "3 GB") {
		t.Fatalf("set-quota by id printed %q", out)
	}
	if out := mustCLI(t, "admin", "orgs", "set-quota", "ACME", "2GB"); !strings.Contains(out, "2 GB") {
		t.Fatalf("set-quota by name in another case printed %q", out)
	}
	out := mustCLI(t, "admin", "keys", "create", "--org", "acme", "--role", "writer", "--name", "ci")
	if !strings.Contains(out, "for organisation acme ("+acme.ID+")") {
		t.Fatalf("keys create --org acme printed %q", out)
	}
	keyID := regexp.MustCompile(`key (key_\w+)`).FindStringSubmatch(out)[1]
	out = mustCLI(t, "admin", "keys", "list")
	if !regexp.MustCompile(keyID+`\s+acme\s+`+acme.ID+`\s+writer\s+ci`).MatchString(out) ||
		!regexp.MustCompile(`\s+default\s+org_\w+\s+admin`).MatchString(out) {
		t.Fatalf("keys list does not show org names:\n%s", out)
	}
	if out := mustCLI(t, "admin", "keys", "list", "--org", "acme"); !strings.Contains(out, keyID) || strings.Contains(out, "default") {
		t.Fatalf("keys list --org acme:\n%s", out)
	}

	// A second org named as acme's id makes that id ambiguous.
	mustCLI(t, "admin", "orgs", "create", acme.ID)
	keysBefore := countKeys(t, e)
	for _, tc := range []struct {
		ref  string
		want string
		exit int
	}{
		{"nope", `no organisation has the id or name "nope" (silo admin orgs list shows them)`, exitNotFound},
		{"org_nope", `no organisation has the id or name "org_nope" (silo admin orgs list shows them)`, exitNotFound},
		{acme.ID, `"` + acme.ID + `" could mean organisations ` + acme.ID + ` (acme), `, exitRefused},
	} {
		for _, args := range [][]string{
			{"admin", "orgs", "set-quota", tc.ref, "1GB"},
			{"admin", "orgs", "delete", tc.ref},
			{"admin", "orgs", "delete", tc.ref, "--purge"},
			{"admin", "keys", "create", "--org", tc.ref, "--role", "reader"},
			{"admin", "keys", "list", "--org", tc.ref},
		} {
			_, _, err := cli(t, args...)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || exitCode(err) != tc.exit {
				t.Errorf("silo %s: %v (exit %d), want %q (exit %d)", strings.Join(args, " "), err, exitCode(err), tc.want, tc.exit)
			}
		}
	}
	if n := countKeys(t, e); n != keysBefore {
		t.Errorf("refused commands created keys: %d, was %d", n, keysBefore)
	}
	if o := orgNamed(t, e, "acme"); o.QuotaBytes != 2_000_000_000 {
		t.Errorf("refused commands changed acme's quota to %d", o.QuotaBytes)
	}

	// delete: refused while the org holds a dataset (nothing changes), then
	// with --purge its dataset goes and its usage with it.
	wkey, err := e.Service.CreateKey(ctx, e.Admin(t), acme.ID, "", silo.RoleWriter, "w")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SILO_API_KEY", wkey.Secret)
	mustCLI(t, "datasets", "upload", writeFile(t, "d.jsonl", "{\"text\":\"a\"}\n"), "--name", "d", "--type", "embed-input")
	t.Setenv("SILO_API_KEY", e.AdminKey)
	_, _, err = cli(t, "admin", "orgs", "delete", "acme")
	if err == nil || !strings.Contains(err.Error(), "still holds datasets") || !strings.Contains(err.Error(), "(HTTP 409)") || exitCode(err) != exitRefused {
		t.Fatalf("delete of an org with a dataset: %v (exit %d)", err, exitCode(err))
	}
	if o := orgNamed(t, e, "acme"); o.UsedBytes != 13 {
		t.Fatalf("a refused delete changed acme: %+v", o)
	}
	if out := mustCLI(t, "admin", "orgs", "delete", "acme", "--purge"); out != "deleted organisation acme ("+acme.ID+") with its datasets (13 B freed); its keys are revoked\n" {
		t.Fatalf("delete --purge printed %q", out)
	}
	if _, err := e.Store.Org(ctx, acme.ID); silo.ErrorCode(err) != silo.ENOTFOUND {
		t.Fatalf("acme after delete: %v", err)
	}
	if out := mustCLI(t, "admin", "keys", "list"); !regexp.MustCompile(keyID + `\s+\(deleted\)\s+` + acme.ID).MatchString(out) {
		t.Errorf("keys list after the org was deleted:\n%s", out)
	}
	// The org named as acme's id is now the only match, and empty: deleted
	// without --purge.
	if out := mustCLI(t, "admin", "orgs", "delete", acme.ID); !strings.HasPrefix(out, "deleted organisation "+acme.ID+" (org_") {
		t.Fatalf("delete of an empty org printed %q", out)
	}
}

func orgNamed(t *testing.T, e *silotest.Env, name string) *silo.Org {
	t.Helper()
	orgs, err := e.Store.Orgs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range orgs {
		if o.Name == name {
			return o
		}
	}
	t.Fatalf("no org named %q", name)
	return nil
}

func countKeys(t *testing.T, e *silotest.Env) int {
	t.Helper()
	keys, err := e.Store.Keys(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	return len(keys)
}

// TestDownloadForce: a download never replaces an existing file unless
// --force: without it the command is refused (exit 4) before anything is
// downloaded and the file keeps its bytes; -o DIR writes into DIR.
func TestDownloadForce(t *testing.T) {
	startCLIServer(t)
	data := "{\"text\":\"hello\"}\n"
	out := mustCLI(t, "datasets", "upload", writeFile(t, "hello.jsonl", data), "--name", "hello", "--type", "embed-input", "--wait")
	id := strings.Fields(out)[1]
	dir := t.TempDir()
	dst := filepath.Join(dir, "hello.jsonl")
	if err := os.WriteFile(dst, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-o", dst}, {"-o", dir}} {
		_, _, err := cli(t, append([]string{"datasets", "download", id}, args...)...)
		want := dst + " exists already: pass --force to overwrite it, or -o another file"
		if err == nil || err.Error() != want || exitCode(err) != exitRefused {
			t.Fatalf("download %v onto an existing file: %v (exit %d), want %q", args, err, exitCode(err), want)
		}
		if b, err := os.ReadFile(dst); err != nil || string(b) != "mine" {
			t.Fatalf("the existing file now holds %q (%v)", b, err)
		}
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 1 {
		t.Fatalf("a refused download left %v (%v)", ents, err)
	}
	// --json: the refusal is one JSON object on stderr.
	var stderr bytes.Buffer
	root := newRootCommand()
	root.SetArgs([]string{"datasets", "download", id, "-o", dst, "--json", "--exit-codes=detailed"})
	root.SetOut(&bytes.Buffer{})
	cmd, err := root.ExecuteContextC(t.Context())
	if code := report(&stderr, cmd, err); code != exitRefused {
		t.Fatalf("exit %d", code)
	}
	var j map[string]any
	if err := json.Unmarshal(stderr.Bytes(), &j); err != nil || j["exit_code"] != float64(exitRefused) || j["kind"] != "refused" || !strings.Contains(j["message"].(string), "exists already") {
		t.Fatalf("--json error %q: %v", stderr.String(), err)
	}
	mustCLI(t, "datasets", "download", id, "-o", dir, "--force")
	if b, err := os.ReadFile(dst); err != nil || string(b) != data {
		t.Fatalf("after --force: %q (%v)", b, err)
	}
	other := filepath.Join(dir, "new.jsonl")
	mustCLI(t, "datasets", "download", id, "-o", other)
	if b, err := os.ReadFile(other); err != nil || string(b) != data {
		t.Fatalf("a new file: %q (%v)", b, err)
	}
}
