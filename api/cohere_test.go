package api_test

// Contract tests with the real Cohere Go SDK pointed at a real silo: what a
// user of Cohere's datasets API runs must run unchanged against silo.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	cohere "github.com/cohere-ai/cohere-go/v2"
	cohereclient "github.com/cohere-ai/cohere-go/v2/client"
	"github.com/cohere-ai/cohere-go/v2/core"
	"github.com/cohere-ai/cohere-go/v2/option"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/silotest"
)

func sdk(e *silotest.Env, key string) *cohereclient.Client {
	return cohereclient.NewClient(option.WithBaseURL(e.URL), option.WithToken(key), option.WithMaxAttempts(1))
}

// namedReader gives the SDK a filename to send, as Cohere's own Go sample
// does; a plain reader goes without one.
type namedReader struct {
	io.Reader
	name string
}

func (n namedReader) Name() string { return n.name }

func ptr[T any](v T) *T { return &v }

const embedJSONL = "{\"text\":\"the first row\",\"views\":3}\n{\"text\":\"the second row\",\"views\":5}\n"

func TestCohereSDKLifecycle(t *testing.T) {
	e := silotest.Start(t, silotest.Options{})
	orgID, key := e.Org(t, "acme", 0, silo.RoleWriter)
	co := sdk(e, key)
	ctx := t.Context()

	usage, err := co.Datasets.GetUsage(ctx)
	if err != nil || *usage.OrganizationUsage != 0 {
		t.Fatalf("usage before: %v, %v", usage, err)
	}
	evalData := "text,views\nan eval row,1\n"
	created, err := co.Datasets.Create(ctx, &cohere.DatasetsCreateRequest{
		Name: "My Embeddings", Type: cohere.DatasetTypeEmbedInput,
		KeepFields: []*string{ptr("views")},
		Data:       namedReader{strings.NewReader(embedJSONL), "train.jsonl"},
		EvalData:   namedReader{strings.NewReader(evalData), "eval.csv"},
	}, option.WithHTTPHeader(http.Header{"X-Client-Name": {"contract-test"}}))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(*created.Id, "my-embeddings-") || len(*created.Id) != len("my-embeddings-")+6 {
		t.Fatalf("id %q does not look like Cohere's", *created.Id)
	}
	// Usage is exact from the moment the create is acknowledged.
	want := int64(len(embedJSONL) + len(evalData))
	usage, err = co.Datasets.GetUsage(ctx)
	if err != nil || *usage.OrganizationUsage != want {
		t.Fatalf("usage after create: %v, %v; want %d", *usage.OrganizationUsage, err, want)
	}
	e.WaitValidated(t, orgID, *created.Id)

	got, err := co.Datasets.Get(ctx, *created.Id)
	if err != nil {
		t.Fatal(err)
	}
	d := got.GetDataset()
	if d.Name != "My Embeddings" || d.DatasetType != cohere.DatasetTypeEmbedInput || d.ValidationStatus != cohere.DatasetValidationStatusValidated {
		t.Fatalf("get: %+v (error %v)", d, d.ValidationError)
	}
	if len(d.DatasetParts) != 2 || *d.DatasetParts[0].SizeBytes != len(embedJSONL) || *d.DatasetParts[1].SizeBytes != len(evalData) ||
		*d.DatasetParts[0].NumRows != 2 || d.DatasetParts[0].Name != "train.jsonl" {
		t.Fatalf("parts: %+v", d.DatasetParts)
	}
	if time.Since(d.CreatedAt) > time.Minute || d.CreatedAt.Location() != time.UTC {
		t.Fatalf("created_at %v", d.CreatedAt)
	}

	// The original file reads back byte for byte through its signed URL,
	// with no Authorization header.
	resp, err := http.Get(*d.DatasetParts[0].OriginalUrl)
	if err != nil {
		t.Fatal(err)
	}
	body := mustReadAll(t, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != embedJSONL {
		t.Fatalf("original download: %d %q", resp.StatusCode, body)
	}

	list, err := co.Datasets.List(ctx, &cohere.DatasetsListRequest{
		DatasetType: ptr("embed-input"), ValidationStatus: ptr(cohere.DatasetValidationStatusValidated), Limit: ptr(10.0),
	})
	if err != nil || len(list.Datasets) != 1 || list.Datasets[0].Id != *created.Id {
		t.Fatalf("list: %+v, %v", list, err)
	}
	list, err = co.Datasets.List(ctx, &cohere.DatasetsListRequest{DatasetType: ptr("chat-finetune-input")})
	if err != nil || len(list.Datasets) != 0 {
		t.Fatalf("filtered list: %+v, %v", list, err)
	}
	list, err = co.Datasets.List(ctx, &cohere.DatasetsListRequest{After: ptr(time.Now().Add(time.Hour))})
	if err != nil || len(list.Datasets) != 0 {
		t.Fatalf("list after the future: %+v, %v", list, err)
	}

	if _, err := co.Datasets.Delete(ctx, *created.Id); err != nil {
		t.Fatal(err)
	}
	usage, err = co.Datasets.GetUsage(ctx)
	if err != nil || *usage.OrganizationUsage != 0 {
		t.Fatalf("usage after delete: %v, %v", *usage.OrganizationUsage, err)
	}
	_, err = co.Datasets.Get(ctx, *created.Id)
	var nf *cohere.NotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("get after delete: %v", err)
	}
}

// TestCohereSDKPlainReader: the SDK sends a plain io.Reader without a
// filename; silo sniffs the format.
func TestCohereSDKPlainReader(t *testing.T) {
	e := silotest.Start(t, silotest.Options{})
	orgID, key := e.Org(t, "acme", 0, silo.RoleWriter)
	created, err := sdk(e, key).Datasets.Create(t.Context(), &cohere.DatasetsCreateRequest{
		Name: "plain", Type: cohere.DatasetTypeEmbedInput, Data: strings.NewReader(embedJSONL),
		EvalData: strings.NewReader(""), // Cohere's own sample sends an empty eval part
	})
	if err != nil {
		t.Fatal(err)
	}
	d := e.WaitValidated(t, orgID, *created.Id)
	if d.Status != silo.StatusValidated || len(d.Parts) != 1 || d.Parts[0].Format != silo.FormatJSONL {
		t.Fatalf("dataset: %+v", d)
	}
}

func statusOf(err error) int {
	var api *core.APIError
	if errors.As(err, &api) {
		return api.StatusCode
	}
	return 0
}

// TestCohereSDKErrors: every error the SDK types, produced by the real
// situation.
func TestCohereSDKErrors(t *testing.T) {
	e := silotest.Start(t, silotest.Options{})
	orgID, writer := e.Org(t, "acme", 100, silo.RoleWriter)
	reader := e.Key(t, orgID, silo.RoleReader)
	revoked := e.Key(t, orgID, silo.RoleReader)
	keys, err := e.Service.Keys(context.Background(), e.Admin(t), orgID)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.Hash != nil && string(k.Hash) == string(silo.HashSecret(revoked)) {
			if _, err := e.Service.RevokeKey(context.Background(), e.Admin(t), k.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, otherKey := e.Org(t, "other", 0, silo.RoleWriter)
	other, err := sdk(e, otherKey).Datasets.Create(t.Context(), &cohere.DatasetsCreateRequest{
		Name: "theirs", Type: cohere.DatasetTypeEmbedInput, Data: strings.NewReader(embedJSONL)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	big := strings.Repeat("{\"text\":\"x\"}\n", 20) // 260 bytes > quota 100
	for _, tc := range []struct {
		name string
		call func() error
		want any
		code int
		msg  string
	}{
		{"over quota", func() error {
			_, err := sdk(e, writer).Datasets.Create(ctx, &cohere.DatasetsCreateRequest{Name: "big", Type: cohere.DatasetTypeEmbedInput, Data: strings.NewReader(big)})
			return err
		}, &cohere.BadRequestError{}, 400, "You have exceeded capacity"},
		{"missing name", func() error {
			_, err := sdk(e, writer).Datasets.Create(ctx, &cohere.DatasetsCreateRequest{Type: cohere.DatasetTypeEmbedInput, Data: strings.NewReader("{}")})
			return err
		}, &cohere.BadRequestError{}, 400, "The name parameter must be set"},
		{"bad type", func() error {
			_, err := sdk(e, writer).Datasets.Create(ctx, &cohere.DatasetsCreateRequest{Name: "x", Type: "nope", Data: strings.NewReader("{}")})
			return err
		}, &cohere.BadRequestError{}, 400, "The dataset type is invalid"},
		{"bad delimiter", func() error {
			_, err := sdk(e, writer).Datasets.Create(ctx, &cohere.DatasetsCreateRequest{Name: "x", Type: cohere.DatasetTypeEmbedInput, CsvDelimiter: ptr(";;"), Data: strings.NewReader("{}")})
			return err
		}, &cohere.BadRequestError{}, 400, "invalid csv delimiter"},
		{"no key", func() error { _, err := sdk(e, "").Datasets.GetUsage(ctx); return err }, &cohere.UnauthorizedError{}, 401, "no api key"},
		{"unknown key", func() error { _, err := sdk(e, "silo_nope").Datasets.GetUsage(ctx); return err }, &cohere.UnauthorizedError{}, 401, "invalid api token"},
		{"revoked key", func() error { _, err := sdk(e, revoked).Datasets.GetUsage(ctx); return err }, &cohere.InvalidTokenError{}, 498, "revoked"},
		{"reader deletes", func() error { _, err := sdk(e, reader).Datasets.Delete(ctx, "whatever-abcdef"); return err }, &cohere.ForbiddenError{}, 403, "role"},
		{"reader creates", func() error {
			_, err := sdk(e, reader).Datasets.Create(ctx, &cohere.DatasetsCreateRequest{Name: "x", Type: cohere.DatasetTypeEmbedInput, Data: strings.NewReader("{}")})
			return err
		}, &cohere.ForbiddenError{}, 403, "role"},
		{"unknown id", func() error { _, err := sdk(e, reader).Datasets.Get(ctx, "nope-abcdef"); return err }, &cohere.NotFoundError{}, 404, "The dataset with id 'nope-abcdef' was not found."},
		{"other org's id", func() error { _, err := sdk(e, reader).Datasets.Get(ctx, *other.Id); return err }, &cohere.NotFoundError{}, 404, "not found"},
		{"other org's delete", func() error { _, err := sdk(e, writer).Datasets.Delete(ctx, *other.Id); return err }, &cohere.NotFoundError{}, 404, "not found"},
		{"not implemented", func() error { _, err := sdk(e, reader).EmbedJobs.List(ctx); return err }, &cohere.NotImplementedError{}, 501, "does not implement"},
		{"limit < 1", func() error {
			_, err := sdk(e, reader).Datasets.List(ctx, &cohere.DatasetsListRequest{Limit: ptr(0.5)})
			return err
		}, &cohere.UnprocessableEntityError{}, 422, "whole number"},
		{"negative offset", func() error {
			_, err := sdk(e, reader).Datasets.List(ctx, &cohere.DatasetsListRequest{Offset: ptr(-1.0)})
			return err
		}, &cohere.UnprocessableEntityError{}, 422, "offset"},
		{"bad status", func() error {
			_, err := sdk(e, reader).Datasets.List(ctx, &cohere.DatasetsListRequest{ValidationStatus: ptr(cohere.DatasetValidationStatus("done"))})
			return err
		}, &cohere.UnprocessableEntityError{}, 422, "validationStatus"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if statusOf(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v (status %d), want %d with %q", err, statusOf(err), tc.code, tc.msg)
			}
			if !isType(err, tc.want) {
				t.Fatalf("got %T, want %T", err, tc.want)
			}
			// Cohere's error body is {"message", "id"}: the SDK keeps it as Body.
			if nf := (*cohere.NotFoundError)(nil); errors.As(err, &nf) {
				if b, _ := nf.Body.(map[string]any); b == nil || b["id"] == "" || b["id"] == nil {
					t.Fatalf("404 body %#v has no id", nf.Body)
				}
			}
		})
	}
	if u := e.Usage(t, orgID); u.UsedBytes != 0 || u.ReservedBytes != 0 {
		t.Fatalf("refused requests changed usage: %+v", u)
	}
}

// isType reports whether err wraps an error of want's type (want is a
// typed nil-able pointer such as &cohere.BadRequestError{}).
func isType(err error, want any) bool {
	target := reflect.New(reflect.TypeOf(want))
	return errors.As(err, target.Interface())
}
