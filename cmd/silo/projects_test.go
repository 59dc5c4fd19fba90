package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// TestProjectsCLI: projects of an organisation with and without a quota,
// a key bound to one that sees its project's usage and is refused at the
// project's quota, names resolved within --org or refused when ambiguous,
// the quota changed and removed, and a delete refused, then purged.
func TestProjectsCLI(t *testing.T) {
	e := startCLIServer(t)
	var org struct{ ID string }
	if err := json.Unmarshal([]byte(mustCLI(t, "admin", "orgs", "create", "acme", "--quota", "1MB", "--json")), &org); err != nil {
		t.Fatal(err)
	}
	out := mustCLI(t, "admin", "projects", "create", "--org", "acme", "team-a", "--quota", "1kB")
	for _, w := range []string{"NAME", "team-a", "acme", "0 B", "1 kB", "0%"} {
		if !strings.Contains(out, w) {
			t.Errorf("projects create printed %q, without %q", out, w)
		}
	}
	var b struct {
		ID         string `json:"id"`
		OrgID      string `json:"org_id"`
		QuotaBytes *int64 `json:"quota_bytes"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, "admin", "projects", "create", "--org", org.ID, "team-b", "--json")), &b); err != nil || b.QuotaBytes != nil || b.OrgID != org.ID {
		t.Fatalf("projects create --json: %+v, %v", b, err)
	}
	out = mustCLI(t, "admin", "projects", "list", "--org", "acme")
	if !strings.Contains(out, "team-a") || !strings.Contains(out, "team-b") || !strings.Contains(out, "none") {
		t.Errorf("projects list:\n%s", out)
	}
	if out := mustCLI(t, "admin", "projects", "list", "--org", "default"); strings.Contains(out, "team-") {
		t.Errorf("projects list --org default shows acme's:\n%s", out)
	}

	out = mustCLI(t, "admin", "keys", "create", "--org", "acme", "--project", "team-a", "--role", "writer", "--name", "ci")
	m := regexp.MustCompile(`created writer key (key_\w+) for project team-a \((prj_\w+)\) of organisation acme .*\n.*\n\n    (silo_\w+)\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("keys create --project printed %q", out)
	}
	keyID, projectID, secret := m[1], m[2], m[3]
	if out := mustCLI(t, "admin", "keys", "list", "--org", "acme"); !strings.Contains(out, "PROJECT") || !strings.Contains(out, "team-a ("+projectID+")") || !strings.Contains(out, keyID) {
		t.Errorf("keys list:\n%s", out)
	}
	if out := mustCLI(t, "admin", "keys", "list", "--org", "default"); strings.Contains(out, "PROJECT") {
		t.Errorf("keys list of an org without project keys has a PROJECT column:\n%s", out)
	}
	if _, _, err := cli(t, "admin", "keys", "create", "--org", "default", "--project", "team-a", "--role", "writer"); err == nil || !strings.Contains(err.Error(), "no project in organisation default") {
		t.Errorf("a key for another org's project: %v", err)
	}

	t.Setenv("SILO_API_KEY", secret)
	mustCLI(t, "datasets", "upload", writeFile(t, "a.jsonl", "{\"text\":\"hello\"}\n{\"text\":\"world\"}\n"), "--name", "a", "--type", "embed-input", "--wait")
	out = mustCLI(t, "usage")
	if !strings.HasPrefix(out, "project "+projectID+": 34 B of 1 kB used (3%)\norganisation: 34 B of 1 MB used (0%)\n") {
		t.Errorf("usage with a project key:\n%s", out)
	}
	var u struct {
		ProjectID    string `json:"project_id"`
		ProjectUsage int64  `json:"project_usage"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, "usage", "--json")), &u); err != nil || u.ProjectID != projectID || u.ProjectUsage != 34 {
		t.Errorf("usage --json: %+v, %v", u, err)
	}
	big := writeFile(t, "big.jsonl", strings.Repeat("{\"text\":\"0123456789\"}\n", 50))
	if _, _, err := cli(t, "datasets", "upload", big, "--name", "big", "--type", "embed-input"); err == nil || !strings.Contains(err.Error(), "HTTP 400") || !strings.Contains(err.Error(), "project") {
		t.Errorf("an upload over the project's quota: %v", err)
	}

	t.Setenv("SILO_API_KEY", e.AdminKey)
	mustCLI(t, "admin", "orgs", "create", "other")
	mustCLI(t, "admin", "projects", "create", "--org", "other", "team-b")
	if _, _, err := cli(t, "admin", "projects", "set-quota", "team-b", "1kB"); err == nil || !strings.Contains(err.Error(), "could mean projects") {
		t.Errorf("an ambiguous project name: %v", err)
	}
	if _, _, err := cli(t, "admin", "projects", "set-quota", "nope", "1kB"); err == nil || !strings.Contains(err.Error(), `no project has the id or name "nope"`) {
		t.Errorf("an unknown project: %v", err)
	}
	if _, _, err := cli(t, "admin", "projects", "set-quota", "team-a", "lots"); err == nil || !strings.Contains(err.Error(), "none") {
		t.Errorf("a bad size: %v", err)
	}
	if out := mustCLI(t, "admin", "projects", "set-quota", "TEAM-B", "2kB", "--org", "acme"); !strings.Contains(out, b.ID) || !strings.Contains(out, "2 kB") {
		t.Errorf("set-quota by name within --org:\n%s", out)
	}
	if out := mustCLI(t, "admin", "projects", "set-quota", projectID, "none"); !strings.Contains(out, "none") || !strings.Contains(out, "34 B") {
		t.Errorf("set-quota none:\n%s", out)
	}

	orgKey := regexp.MustCompile(`silo_\w+`).FindString(mustCLI(t, "admin", "keys", "create", "--org", "acme", "--role", "reader"))
	t.Setenv("SILO_API_KEY", orgKey)
	out = mustCLI(t, "usage")
	if !strings.HasPrefix(out, "34 B of 1 MB used") || !regexp.MustCompile(`By project:\n\s+PROJECT\s+DATASETS\s+SIZE\n\s+team-a \(`+projectID+`\)\s+1\s+34 B\n`).MatchString(out) {
		t.Errorf("usage with an org key:\n%s", out)
	}

	t.Setenv("SILO_API_KEY", e.AdminKey)
	if _, _, err := cli(t, "admin", "projects", "delete", "team-a", "--org", "acme"); err == nil || !strings.Contains(err.Error(), "HTTP 409") {
		t.Errorf("deleting a project that holds datasets: %v", err)
	}
	out = mustCLI(t, "admin", "projects", "delete", projectID, "--purge")
	if want := "deleted project team-a (" + projectID + ") of organisation acme (" + org.ID + ") with its datasets (34 B freed); its keys are revoked\n"; out != want {
		t.Errorf("projects delete --purge printed %q, want %q", out, want)
	}
	if out := mustCLI(t, "admin", "projects", "list"); strings.Contains(out, projectID) {
		t.Errorf("a deleted project is listed:\n%s", out)
	}
	t.Setenv("SILO_API_KEY", secret)
	if _, _, err := cli(t, "usage"); err == nil || !strings.Contains(err.Error(), "HTTP 498") {
		t.Errorf("the key of a deleted project: %v", err)
	}
}
