package sqlite

import (
	"context"
	"database/sql"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/sqlq"
)

// Export calls fn with every record, read in one transaction: SQLite's
// WAL gives it one snapshot while writers go on.
func (s *Store) Export(ctx context.Context, fn func(*silo.Record) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return mapErr(err)
	}
	defer tx.Rollback()
	query := func(q string) (sqlq.Rows, error) { return tx.QueryContext(ctx, q) }
	return sqlq.Export(query, scanDataset, fn)
}

// Import writes the records put into the store in one write transaction.
func (s *Store) Import(ctx context.Context, records func(put func(*silo.Record) error) error) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		stmts := map[string]*sql.Stmt{}
		defer func() {
			for _, st := range stmts {
				st.Close()
			}
		}()
		im := &sqlq.Importer{
			PH: func(int) string { return "?" },
			// Each kind of row is one statement, prepared once per import.
			Exec: func(q string, args ...any) error {
				st := stmts[q]
				if st == nil {
					var err error
					if st, err = tx.PrepareContext(ctx, q); err != nil {
						return err
					}
					stmts[q] = st
				}
				_, err := st.ExecContext(ctx, args...)
				return err
			},
		}
		return records(im.Put)
	})
}
