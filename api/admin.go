package api

import (
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/silo-datasets/silo"
)

// decodeBody reads a small JSON admin body: not JSON is 400; the handlers'
// checks of the values give 422.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return silo.Errorf(silo.EINVALID, "the request body must be a JSON object: %v", err)
	}
	// JSON decoding leaves valid UTF-8, but "\u0000" decodes to a NUL,
	// which PostgreSQL refuses and SQLite would store: refused here, the
	// same on every store, as at the rest of the edge (text.go).
	fields := reflect.ValueOf(v).Elem()
	for i := range fields.NumField() {
		if f := fields.Field(i); f.Kind() == reflect.String && !isText(f.String()) {
			return silo.Errorf(silo.EINVALID, "The %s field is not valid UTF-8 text or holds a NUL byte.", jsonName(fields.Type().Field(i)))
		}
	}
	return nil
}

// jsonName is the name a struct field has in JSON.
func jsonName(f reflect.StructField) string {
	if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" {
		return name
	}
	return f.Name
}

func (s *Server) handleCreateOrg(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name       string `json:"name"`
		QuotaBytes *int64 `json:"quota_bytes"`
	}
	if err := decodeBody(r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	org, err := s.Service.CreateOrg(r.Context(), callerOf(r), body.Name, body.QuotaBytes)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, orgJSON(org))
}

type orgOut struct {
	*silo.Org
	CreatedAt string `json:"created_at"`
}

func orgJSON(o *silo.Org) orgOut { return orgOut{Org: o, CreatedAt: formatTime(o.CreatedAt)} }

func (s *Server) handleListOrgs(w http.ResponseWriter, r *http.Request) {
	orgs, err := s.Service.Orgs(r.Context(), callerOf(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]orgOut, len(orgs))
	for i, o := range orgs {
		out[i] = orgJSON(o)
	}
	writeJSON(w, http.StatusOK, map[string]any{"orgs": out})
}

func (s *Server) handleSetQuota(w http.ResponseWriter, r *http.Request) {
	var body struct {
		QuotaBytes *int64 `json:"quota_bytes"`
	}
	if err := decodeBody(r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	if body.QuotaBytes == nil {
		writeError(w, r, silo.Errorf(silo.EUNPROCESSABLE, "quota_bytes is required"))
		return
	}
	org, err := s.Service.SetQuota(r.Context(), callerOf(r), r.PathValue("id"), *body.QuotaBytes)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, orgJSON(org))
}

type keyOut struct {
	*silo.Key
	CreatedAt string  `json:"created_at"`
	RevokedAt *string `json:"revoked_at"`
}

func keyJSON(k *silo.Key) keyOut {
	out := keyOut{Key: k, CreatedAt: formatTime(k.CreatedAt)}
	if k.RevokedAt != nil {
		t := formatTime(*k.RevokedAt)
		out.RevokedAt = &t
	}
	return out
}

func (s *Server) handleCreateKey(w http.ResponseWriter, r *http.Request) {
	var body struct {
		OrgID     string    `json:"org_id"`
		ProjectID string    `json:"project_id"`
		Role      silo.Role `json:"role"`
		Name      string    `json:"name"`
	}
	if err := decodeBody(r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	k, err := s.Service.CreateKey(r.Context(), callerOf(r), body.OrgID, body.ProjectID, body.Role, body.Name)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, keyJSON(k))
}

func (s *Server) handleListKeys(w http.ResponseWriter, r *http.Request) {
	keys, err := s.Service.Keys(r.Context(), callerOf(r), r.URL.Query().Get("org_id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]keyOut, len(keys))
	for i, k := range keys {
		out[i] = keyJSON(k)
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": out})
}

func (s *Server) handleRevokeKey(w http.ResponseWriter, r *http.Request) {
	if _, err := s.Service.RevokeKey(r.Context(), callerOf(r), r.PathValue("id")); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleDeleteOrg deletes an organisation; ?purge=true deletes its datasets
// too (the service refuses without it while there are any).
func (s *Server) handleDeleteOrg(w http.ResponseWriter, r *http.Request) {
	purge, err := boolParam(r.URL.Query(), "purge", false)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if err := s.Service.DeleteOrg(r.Context(), callerOf(r), r.PathValue("id"), purge); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

type projectOut struct {
	*silo.Project
	CreatedAt string `json:"created_at"`
}

func projectJSON(p *silo.Project) projectOut {
	return projectOut{Project: p, CreatedAt: formatTime(p.CreatedAt)}
}

func (s *Server) handleCreateProject(w http.ResponseWriter, r *http.Request) {
	var body struct {
		OrgID      string `json:"org_id"`
		Name       string `json:"name"`
		QuotaBytes *int64 `json:"quota_bytes"`
	}
	if err := decodeBody(r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	p, err := s.Service.CreateProject(r.Context(), callerOf(r), body.OrgID, body.Name, body.QuotaBytes)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, projectJSON(p))
}

func (s *Server) handleListProjects(w http.ResponseWriter, r *http.Request) {
	ps, err := s.Service.Projects(r.Context(), callerOf(r), r.URL.Query().Get("org_id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]projectOut, len(ps))
	for i, p := range ps {
		out[i] = projectJSON(p)
	}
	writeJSON(w, http.StatusOK, map[string]any{"projects": out})
}

func (s *Server) handleGetProject(w http.ResponseWriter, r *http.Request) {
	p, err := s.Service.Project(r.Context(), callerOf(r), r.PathValue("id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, projectJSON(p))
}

// handleSetProjectQuota changes a project's quota: quota_bytes is
// required, and null means no quota of its own.
func (s *Server) handleSetProjectQuota(w http.ResponseWriter, r *http.Request) {
	var body struct {
		QuotaBytes json.RawMessage `json:"quota_bytes"`
	}
	if err := decodeBody(r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	if len(body.QuotaBytes) == 0 {
		writeError(w, r, silo.Errorf(silo.EUNPROCESSABLE, "quota_bytes is required (a whole number of bytes, or null for no quota of its own)"))
		return
	}
	var quota *int64
	if err := json.Unmarshal(body.QuotaBytes, &quota); err != nil {
		writeError(w, r, silo.Errorf(silo.EUNPROCESSABLE, "quota_bytes must be a whole number of bytes or null"))
		return
	}
	p, err := s.Service.SetProjectQuota(r.Context(), callerOf(r), r.PathValue("id"), quota)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, projectJSON(p))
}

// handleDeleteProject deletes a project; ?purge=true deletes its datasets
// too.
func (s *Server) handleDeleteProject(w http.ResponseWriter, r *http.Request) {
	purge, err := boolParam(r.URL.Query(), "purge", false)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if err := s.Service.DeleteProject(r.Context(), callerOf(r), r.PathValue("id"), purge); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}
