package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// hot holds the statements that every API request runs, prepared once on
// the reader pool: authenticating a key and reading an org's usage row.
// Preparing costs more than running these one-row lookups (SQLite parses
// and plans the SQL each time), and database/sql keeps a prepared copy per
// pooled connection. The lookups stay exact: a revoked key gets 498 on its
// very next request (KeyWithOrg also keeps an exact copy: keycache.go).
type hot struct {
	keyByHash  *sql.Stmt
	org        *sql.Stmt
	keyWithOrg *sql.Stmt // keyorg.go
	// The webhook dispatcher's (outbox.go), which runs after every commit
	// of an event and every batch of outcomes: dueDelivery on the reader
	// pool, the others on the one writer.
	dueDelivery, claimIDs, claimOne, claimedRow, finishDelivery *sql.Stmt
}

func (s *Store) prepare(ctx context.Context) error {
	var err error
	if s.hot.keyByHash, err = s.r.PrepareContext(ctx, `SELECT `+keyCols+` FROM keys WHERE hash = ?`); err != nil {
		return fmt.Errorf("sqlite: prepare: %w", err)
	}
	if s.hot.org, err = s.r.PrepareContext(ctx, `SELECT `+orgCols+` FROM orgs WHERE id = ?`); err != nil {
		return fmt.Errorf("sqlite: prepare: %w", err)
	}
	if s.hot.keyWithOrg, err = s.r.PrepareContext(ctx, keyWithOrgSQL); err != nil {
		return fmt.Errorf("sqlite: prepare: %w", err)
	}
	if s.hot.dueDelivery, err = s.r.PrepareContext(ctx, dueDeliverySQL); err != nil {
		return fmt.Errorf("sqlite: prepare: %w", err)
	}
	for _, p := range []struct {
		st  **sql.Stmt
		sql string
	}{{&s.hot.claimIDs, claimIDsSQL}, {&s.hot.claimOne, claimOneSQL}, {&s.hot.claimedRow, claimedRowSQL}, {&s.hot.finishDelivery, finishDeliverySQL}} {
		if *p.st, err = s.w.PrepareContext(ctx, p.sql); err != nil {
			return fmt.Errorf("sqlite: prepare: %w", err)
		}
	}
	return nil
}

func (h *hot) close() error {
	var errs []error
	for _, st := range []*sql.Stmt{h.keyByHash, h.org, h.keyWithOrg, h.dueDelivery, h.claimIDs, h.claimOne, h.claimedRow, h.finishDelivery} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}
