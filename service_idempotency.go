package silo

import (
	"context"
	"time"
)

// IdempotencyClaim is a create's hold on its Idempotency-Key. Replay is set
// when the key already has an answer: send it instead of running the create.
type IdempotencyClaim struct {
	OrgID, Key, Claim string
	Replay            *IdempotencyRecord
}

// ClaimIdempotency is the first step of a create sent with an
// Idempotency-Key. fingerprint names the request's parameters. A key with
// an answer gives a claim to replay; a key whose first create still runs is
// ECONFLICT; the same key with other parameters, EUNPROCESSABLE.
func (s *Service) ClaimIdempotency(ctx context.Context, c *Caller, key, fingerprint string) (*IdempotencyClaim, error) {
	if err := require(c, RoleWriter); err != nil {
		return nil, err
	}
	if !validIdempotencyKey(key) {
		return nil, Errorf(EINVALID, "The Idempotency-Key header must be 1 to %d printable ASCII characters.", MaxIdempotencyKeyLength)
	}
	st, ok := s.Store.(IdempotencyStore)
	if !ok {
		return nil, Errorf(ENOTIMPLEMENTED, "this metadata store does not support Idempotency-Key")
	}
	if c.ProjectID() != "" {
		// A project's keys have their own: the same Idempotency-Key sent
		// by another project's key is another create, never a replay of
		// a dataset that key cannot see.
		key = c.ProjectID() + "/" + key
	}
	now := s.now()
	rec := &IdempotencyRecord{
		OrgID: c.OrgID(), Key: key, Fingerprint: fingerprint, State: IdempotencyRunning, Claim: NewID("idem_"),
		Node: s.Node, LeaseUntil: now.Add(s.leaseTTL()), CreatedAt: now,
	}
	old, err := st.ClaimIdempotency(ctx, rec, now, now.Add(-IdempotencyWindow))
	switch {
	case ErrorCode(err) == ENOTFOUND:
		return nil, orgGone() // deleted since the key was checked
	case err != nil:
		return nil, err
	case old == nil:
		return &IdempotencyClaim{OrgID: rec.OrgID, Key: key, Claim: rec.Claim}, nil
	case old.Fingerprint != fingerprint:
		return nil, Errorf(EUNPROCESSABLE, "This Idempotency-Key was used with other parameters (name, type, options or size) within the last 24 hours; use a new key for a new create.")
	case old.State == IdempotencyRunning:
		return nil, Errorf(ECONFLICT, "A create with this Idempotency-Key is still running; retry in a moment to get its answer.")
	}
	return &IdempotencyClaim{OrgID: rec.OrgID, Key: key, Replay: old}, nil
}

func validIdempotencyKey(k string) bool {
	if len(k) == 0 || len(k) > MaxIdempotencyKeyLength {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// FinishIdempotency records the answer of a claimed create. A 200 was
// recorded by the create's own transaction. Other client errors are stored
// and replayed; a server error, a cancelled request, 408, 409 or 429
// releases the key so that the client's retry runs the create anew.
func (s *Service) FinishIdempotency(ctx context.Context, cl *IdempotencyClaim, status int, body []byte) {
	if cl == nil || cl.Replay != nil || status == 200 {
		return
	}
	st := s.Store.(IdempotencyStore)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var err error
	switch {
	case status >= 400 && status < 500 && status != 408 && status != 409 && status != 429 && status != 499:
		err = st.FinishIdempotency(ctx, cl.OrgID, cl.Key, cl.Claim, status, body)
	default:
		err = st.ReleaseIdempotency(ctx, cl.OrgID, cl.Key, cl.Claim)
	}
	if err != nil {
		// A running record whose create has no reservation is taken over
		// once its lease runs out.
		s.log().Warn("recording an idempotent create's answer failed", "org", cl.OrgID, "err", err)
	}
}

// attachIdempotency ties the upload's claim to its reservation.
func (u *Upload) attachIdempotency(ctx context.Context) error {
	if u.req.IdempotencyKey == "" {
		return nil
	}
	st, ok := u.s.Store.(IdempotencyStore)
	if !ok {
		return Errorf(ENOTIMPLEMENTED, "this metadata store does not support Idempotency-Key")
	}
	return st.AttachIdempotency(ctx, u.res.OrgID, u.req.IdempotencyKey, u.req.IdempotencyClaim, u.res.ID)
}
