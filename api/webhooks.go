package api

import (
	"net/http"

	"github.com/silo-datasets/silo"
)

// Webhook endpoints (CONTRACT "Events: signed webhooks"): the rules are
// the service's; this file speaks JSON.

type webhookJSON struct {
	ID          string           `json:"id"`
	OrgID       *string          `json:"org_id"` // null: every organisation's (all_orgs)
	AllOrgs     bool             `json:"all_orgs"`
	URL         string           `json:"url"`
	Events      []silo.EventType `json:"events"`
	Description string           `json:"description"`
	Secret      string           `json:"secret,omitempty"` // only in a create's answer
	CreatedAt   string           `json:"created_at"`
}

func toWebhookJSON(w *silo.Webhook) webhookJSON {
	out := webhookJSON{ID: w.ID, AllOrgs: w.AllOrgs, URL: w.URL, Events: w.Events, Description: w.Description,
		Secret: w.Secret, CreatedAt: formatTime(w.CreatedAt)}
	if out.Events == nil {
		out.Events = []silo.EventType{}
	}
	if w.OrgID != "" {
		org := w.OrgID
		out.OrgID = &org
	}
	return out
}

func (s *Server) handleCreateWebhook(w http.ResponseWriter, r *http.Request) {
	var body struct {
		URL         string   `json:"url"`
		Events      []string `json:"events"`
		Description string   `json:"description"`
		OrgID       string   `json:"org_id"`
		AllOrgs     bool     `json:"all_orgs"`
	}
	if err := decodeBody(r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	req := silo.WebhookRequest{URL: body.URL, Description: body.Description, OrgID: body.OrgID, AllOrgs: body.AllOrgs}
	for _, e := range body.Events {
		if !isText(e) {
			writeError(w, r, silo.Errorf(silo.EINVALID, "The events field is not valid UTF-8 text or holds a NUL byte."))
			return
		}
		req.Events = append(req.Events, silo.EventType(e))
	}
	hook, err := s.Service.CreateWebhook(r.Context(), callerOf(r), req)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toWebhookJSON(hook))
}

func (s *Server) handleListWebhooks(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	all, err := boolParam(q, "all_orgs", false)
	if err != nil {
		writeError(w, r, err)
		return
	}
	hooks, err := s.Service.Webhooks(r.Context(), callerOf(r), q.Get("org_id"), all)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]webhookJSON, 0, len(hooks))
	for _, h := range hooks {
		out = append(out, toWebhookJSON(h))
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": out})
}

func (s *Server) handleDeleteWebhook(w http.ResponseWriter, r *http.Request) {
	if err := s.Service.DeleteWebhook(r.Context(), callerOf(r), r.PathValue("id")); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

type deliveryJSON struct {
	EventID        string              `json:"event_id"`
	Type           silo.EventType      `json:"type"`
	Status         silo.DeliveryStatus `json:"status"`
	Attempts       int                 `json:"attempts"`
	LastStatusCode *int                `json:"last_status_code"`
	LastError      *string             `json:"last_error"`
	NextAttemptAt  *string             `json:"next_attempt_at"`
	CreatedAt      string              `json:"created_at"`
	DeliveredAt    *string             `json:"delivered_at"`
}

func (s *Server) handleWebhookDeliveries(w http.ResponseWriter, r *http.Request) {
	limit := 100
	if n, err := parseInt(r.URL.Query(), "limit"); err != nil {
		writeError(w, r, err)
		return
	} else if n != nil {
		limit = *n
	}
	ds, err := s.Service.WebhookDeliveries(r.Context(), callerOf(r), r.PathValue("id"), limit)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]deliveryJSON, 0, len(ds))
	for _, d := range ds {
		dj := deliveryJSON{EventID: d.EventID, Type: d.Type, Status: d.Status, Attempts: d.Attempts, CreatedAt: formatTime(d.CreatedAt)}
		if d.LastStatusCode != 0 {
			dj.LastStatusCode = &d.LastStatusCode
		}
		if d.LastError != "" {
			dj.LastError = &d.LastError
		}
		if d.NextAttemptAt != nil {
			t := formatTime(*d.NextAttemptAt)
			dj.NextAttemptAt = &t
		}
		if d.DeliveredAt != nil {
			t := formatTime(*d.DeliveredAt)
			dj.DeliveredAt = &t
		}
		out = append(out, dj)
	}
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": out})
}

// eventDatasetJSON is a dataset event's data: the Dataset object as GET
// /v1/datasets/{id} shows it, plus its organisation (and, for a delete,
// why it went).
type eventDatasetJSON struct {
	*datasetJSON
	OrgID  string `json:"org_id"`
	Reason string `json:"reason,omitempty"`
}

// EventData renders an event's data for its webhook deliveries (the
// webhook package's Dispatcher.Data): signed part URLs as the dataset's
// own key would get them, fresh at each attempt.
func (s *Server) EventData(e *silo.Event) any {
	switch {
	case e.Data.Threshold != nil:
		return e.Data.Threshold
	case e.Data.Dataset != nil:
		d := e.Data.Dataset
		return eventDatasetJSON{datasetJSON: s.datasetJSON(d, d.KeyID), OrgID: d.OrgID, Reason: e.Data.Reason}
	}
	return struct{}{}
}
