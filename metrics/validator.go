package metrics

import (
	"context"
	"time"

	"github.com/silo-datasets/silo"
)

// Validator wraps a validator to time each validation and how long its
// dataset waited in the queue, without a hook in the service.
func (m *Metrics) Validator(v silo.Validator) silo.Validator { return &timedValidator{m: m, v: v} }

type timedValidator struct {
	m *Metrics
	v silo.Validator
}

func (t *timedValidator) Validate(ctx context.Context, d *silo.Dataset, files []silo.ValidationFile) (*silo.Validation, error) {
	start := time.Now()
	if !d.CreatedAt.IsZero() {
		t.m.waited.Observe(max(start.Sub(d.CreatedAt).Seconds(), 0))
	}
	res, err := t.v.Validate(ctx, d, files)
	outcome := "error"
	switch {
	case err == nil && res.OK:
		outcome = "validated"
	case err == nil:
		outcome = "failed"
	}
	t.m.validation.WithLabelValues(outcome).Observe(time.Since(start).Seconds())
	return res, err
}
