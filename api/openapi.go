package api

import (
	_ "embed"
	"net/http"
)

// openapiYAML is the OpenAPI 3.1 document of the whole API, kept beside
// the handlers it describes; api's tests check real answers against it.
//
//go:embed openapi.yaml
var openapiYAML []byte

// OpenAPI serves the document (mounted at GET /openapi.yaml).
func OpenAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(openapiYAML)
	})
}
