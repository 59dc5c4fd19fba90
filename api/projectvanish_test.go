package api_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/api"
	"github.com/silo-datasets/silo/internal/silotest"
)

// TestCreateWhoseProjectVanished: a create by a project key whose project
// is purged at each step of it in turn (and a resumable upload's creation
// likewise, and the last PATCH of one that is to become a dataset)
// answers 404 saying the project was deleted and stores nothing. Before, a purge that released the upload's reservation at the
// Reserve or CreateDataset step was taken for a lapsed lease: 503 "the
// server could not reach its metadata store", inviting a retry.
func TestCreateWhoseProjectVanished(t *testing.T) {
	v := &vanishing{}
	e := silotest.Start(t, silotest.Options{Configure: func(s *api.Server) {
		v.Store = s.Service.Store
		s.Service.Store = v
		s.Service.Blobs = &vanishingBlobs{BlobStore: s.Service.Blobs, v: v}
	}})
	orgID, _ := e.Org(t, "vanishing-projects", 0, silo.RoleWriter)
	for _, step := range []string{"OpenReservation", "Reserve", "AddPendingBlob", "Blobs.Put", "CreateDataset", "CreateUpload", "UnlockUpload", "Blobs.Append"} {
		t.Run(step, func(t *testing.T) {
			p := mustCall(t, e, 201, e.AdminKey, "POST", "/v1/admin/projects", fmt.Sprintf(`{"org_id":%q,"name":%q}`, orgID, step))
			k := mustCall(t, e, 201, e.AdminKey, "POST", "/v1/admin/keys", fmt.Sprintf(`{"org_id":%q,"project_id":%q,"role":"writer"}`, orgID, p["id"]))
			key := k["key"].(string)
			v.mu.Lock()
			v.method, v.orgID, v.projectID = step, orgID, p["id"].(string)
			v.mu.Unlock()
			var st int
			var out map[string]any
			if step == "UnlockUpload" || step == "Blobs.Append" { // the last PATCH of an upload that is to become a dataset
				st, out = lastPatch(t, e, key)
			} else if step == "CreateUpload" {
				req := newRequest(t, "POST", e.URL+"/v1/uploads", nil)
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("Tus-Resumable", "1.0.0")
				req.Header.Set("Upload-Length", "100")
				st, out = do(t, req)
			} else {
				b, ct := multipartBody(t, [2]string{"data", embedJSONL})
				st, out = create(t, e, key, "name=late&type=embed-input", b, ct)
			}
			v.mu.Lock()
			missed := v.method != ""
			v.mu.Unlock()
			if missed {
				t.Fatalf("the create never reached %s: %d %v", step, st, out)
			}
			if st != 404 || !strings.Contains(fmt.Sprint(out["message"]), "project of this API key was deleted") {
				t.Fatalf("a create whose project was purged at %s: %d %v, want 404 saying the project was deleted", step, st, out)
			}
			if o := e.Usage(t, orgID); o.UsedBytes != 0 {
				t.Fatalf("the org holds %d bytes after a create in a vanished project", o.UsedBytes)
			}
		})
	}
}

// lastPatch opens a resumable upload whose metadata asks for a dataset and
// sends it whole in one PATCH, whose answer it returns.
func lastPatch(t *testing.T, e *silotest.Env, key string) (int, map[string]any) {
	t.Helper()
	b64 := base64.StdEncoding.EncodeToString
	req := newRequest(t, "POST", e.URL+"/v1/uploads", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", fmt.Sprint(len(embedJSONL)))
	req.Header.Set("Upload-Metadata", "name "+b64([]byte("late"))+",type "+b64([]byte("embed-input")))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("open an upload: %d", resp.StatusCode)
	}
	req = newRequest(t, "PATCH", resp.Header.Get("Location"), strings.NewReader(embedJSONL))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", "0")
	return do(t, req)
}
