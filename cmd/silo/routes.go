package main

import (
	"net/http"

	"github.com/silo-datasets/silo/api"
	"github.com/silo-datasets/silo/metrics"
	"github.com/silo-datasets/silo/web"
)

// instrument adds what surrounds the API to a server about to open: the
// dashboard at /, Prometheus metrics at /metrics for admin and metrics keys
// (and without a key on --metrics-addr; with the middleware and validator
// timing that feed them), the OpenAPI document at /openapi.yaml.
func (m *Main) instrument() {
	mx := metrics.New(m.Store)
	m.metrics = mx
	m.Service.Validator = mx.Validator(m.Service.Validator)
	routes := web.Routes()
	routes["GET /openapi.yaml"] = api.OpenAPI()
	if m.Server.Extra == nil {
		m.Server.Extra = map[string]http.Handler{}
	}
	for p, h := range routes {
		m.Server.Extra[p] = h
	}
	m.Server.Wrap = mx.Wrap
	m.Server.Metrics = mx.Handler()
	m.Server.MetricsAddr = m.Config.MetricsAddr
}
