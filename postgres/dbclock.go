package postgres

import "time"

// Leases run on the database's clock (silo.LeaseStore): every node of a
// service shares this store, and their clocks may disagree by more than a
// lease. The statements that set a lease store dbNow plus the lease's
// length (the distance of the caller's time from the caller's now); those
// that judge one compare it with dbNow. clock_timestamp(), not now(): a
// statement that waited for a lock judges by the time it runs, not by
// when its transaction began.
//
// Times are stored as µs since the epoch, as every other time of silo's.
const dbNow = `(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::bigint`

// span is t's distance from now in µs: the length of a lease (negative
// for one that ran out already) for dbNow + span.
func span(now, t time.Time) int64 { return t.Sub(now).Microseconds() }
