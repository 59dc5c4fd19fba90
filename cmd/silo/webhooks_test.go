package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// TestWebhooksCLI: create (secret printed once), list, deliveries after a
// create was recorded for the endpoint, delete.
func TestWebhooksCLI(t *testing.T) {
	startCLIServer(t)
	out := mustCLI(t, "webhooks", "create", "https://hooks.example/in", "--events", "dataset.created,dataset.deleted", "--description", "ci")
	m := regexp.MustCompile(`created webhook (wh_\w+) .*\(dataset.created, dataset.deleted\)\nsigning secret \(shown only now\): whsec_\S+`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("create printed %q", out)
	}
	id := m[1]
	if out := mustCLI(t, "webhooks", "list"); !strings.Contains(out, id) || strings.Contains(out, "whsec_") {
		t.Fatalf("list printed %q", out)
	}
	mustCLI(t, "datasets", "upload", writeFile(t, "a.jsonl", "{\"text\":\"a\"}\n"), "--name", "a", "--type", "embed-input")
	raw := mustCLI(t, "webhooks", "deliveries", id, "--json")
	var ds struct{ Deliveries []map[string]any }
	if err := json.Unmarshal([]byte(raw), &ds); err != nil || len(ds.Deliveries) != 1 || ds.Deliveries[0]["type"] != "dataset.created" {
		t.Fatalf("deliveries --json = %s (%v)", raw, err)
	}
	if out := mustCLI(t, "webhooks", "deliveries", id); !strings.Contains(out, "dataset.created") {
		t.Fatalf("deliveries printed %q", out)
	}
	if _, _, err := cli(t, "webhooks", "create", "https://hooks.example/in", "--events", "nope"); err == nil || !strings.Contains(err.Error(), "unknown event type") {
		t.Fatalf("create with a bad event type: %v", err)
	}
	mustCLI(t, "webhooks", "delete", id)
	if out := mustCLI(t, "webhooks", "list"); !strings.Contains(out, "no webhooks") {
		t.Fatalf("list after delete printed %q", out)
	}
}
