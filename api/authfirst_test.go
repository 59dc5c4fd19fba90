package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/silotest"
)

// TestAuthenticationBeforeRouting: a caller without a valid key gets the
// same answer for every /v1/ and /v2/ request, whether its route exists,
// takes another method, is one silo does not implement, or its path is one
// the router would redirect; so it learns nothing about which routes or
// ids exist. The same requests with a valid key get their different
// answers, which is what the test would see if routing ran first.
func TestAuthenticationBeforeRouting(t *testing.T) {
	e := silotest.Start(t, silotest.Options{})
	orgID, _ := e.Org(t, "authfirst", 0, silo.RoleReader)
	revoked, err := e.Service.CreateKey(context.Background(), e.Admin(t), orgID, "", silo.RoleAdmin, "revoked")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Service.RevokeKey(context.Background(), e.Admin(t), revoked.ID); err != nil {
		t.Fatal(err)
	}
	requests := []struct {
		method, path string
		authed       int // the answer to the admin key; 300: any redirect
	}{
		{"GET", "/v1/datasets/usage", 200},
		{"GET", "/v1/admin/orgs", 200},
		{"GET", "/v1/datasets/nonexistent-abcdef", 404},
		{"GET", "/v1/nowhere", 404},
		{"GET", "/v2/nowhere", 404},
		{"PUT", "/v1/datasets/usage", 405},
		{"POST", "/v1/chat", 501},
		{"GET", "/v1/finetuning", 300},                 // "/v1/finetuning/" exists
		{"GET", "/v1/datasets/../admin/orgs", 300},     // cleaned, then redirected
		{"GET", "/v1//datasets", 300},                  // likewise
		{"GET", "/v1/datasets/%2e%2e/admin/orgs", 404}, // an escaped dot is no dot
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	call := func(t *testing.T, method, path, auth string) (int, string, []string) {
		t.Helper()
		req := newRequest(t, method, e.URL+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct{ Message string }
		json.Unmarshal(mustReadAll(t, resp.Body), &body)
		var headers []string
		for h := range resp.Header {
			if h != "Date" && h != "X-Request-Id" && h != "Content-Length" {
				headers = append(headers, h)
			}
		}
		slices.Sort(headers)
		return resp.StatusCode, body.Message, headers
	}
	seen := map[int]bool{}
	for _, r := range requests {
		st, _, _ := call(t, r.method, r.path, "Bearer "+e.AdminKey)
		if r.authed == 300 && st/100 == 3 {
			st = 300
		}
		if st != r.authed {
			t.Errorf("%s %s with a valid key: %d, want %d", r.method, r.path, st, r.authed)
		}
		seen[st] = true
	}
	if len(seen) < 5 {
		t.Fatalf("with a valid key the requests got only statuses %v: they cannot show what routing would reveal", seen)
	}
	for _, c := range []struct{ name, auth string }{
		{"no key", ""},
		{"not bearer", "Basic " + e.AdminKey},
		{"unknown key", "Bearer silo_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
		{"revoked key", "Bearer " + revoked.Secret},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantSt, wantMsg, wantHeaders := call(t, "GET", "/v1/datasets/usage", c.auth)
			if wantSt != 401 && wantSt != 498 {
				t.Fatalf("usage without a valid key: %d %q", wantSt, wantMsg)
			}
			for _, r := range requests {
				st, msg, headers := call(t, r.method, r.path, c.auth)
				if st != wantSt || msg != wantMsg || !slices.Equal(headers, wantHeaders) {
					t.Errorf("%s %s: %d %q, headers %s; want the same answer as every request: %d %q, headers %s",
						r.method, r.path, st, msg, strings.Join(headers, ","), wantSt, wantMsg, strings.Join(wantHeaders, ","))
				}
			}
		})
	}
}
