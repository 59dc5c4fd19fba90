package postgres

import (
	"context"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/sqlq"
)

// Export calls fn with every record, read in one REPEATABLE READ
// transaction: one snapshot whatever nodes write meanwhile.
func (s *Store) Export(ctx context.Context, fn func(*silo.Record) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return mapErr(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	query := func(q string) (sqlq.Rows, error) { return tx.Query(ctx, q) }
	return mapErr(sqlq.Export(query, scanDataset, fn))
}

// Import writes the records put into the store in one transaction. It is
// not retried as other transactions are: records may not be repeatable,
// and an import goes into a store nobody else writes.
func (s *Store) Import(ctx context.Context, records func(put func(*silo.Record) error) error) error {
	return mapErr(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		im := &sqlq.Importer{
			PH: func(n int) string { return "$" + strconv.Itoa(n) },
			Exec: func(q string, args ...any) error {
				_, err := tx.Exec(ctx, q, args...)
				return err
			},
		}
		return records(im.Put)
	}))
}
