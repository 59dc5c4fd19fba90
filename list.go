package silo

import "context"

// listPage is how many datasets a list reads from the store at once.
const listPage = 100

// eachPage calls fn with each dataset that f selects, newest first, as
// DatasetStore.Datasets does, but reads them a page at a time (by keyset:
// each page starts after the last dataset of the one before) and calls fn
// only once a page is read and the store's connection given back. A list
// streamed to a client that reads at one byte a second would otherwise hold
// a pooled connection and an open read transaction (on SQLite, one that
// also stops WAL checkpoints) for as long as the client takes; this way it
// holds one page of memory. Each page is its own read: a dataset created
// while the list is sent is newer than the cursor and not listed, one
// deleted before its page comes is not listed, none is listed twice.
func eachPage(ctx context.Context, st DatasetStore, f DatasetFilter, fn func(*Dataset) error) error {
	left := f.Limit // 0: all
	page := make([]*Dataset, 0, listPage)
	for {
		q := f
		q.Limit = listPage
		if left > 0 {
			q.Limit = min(left, listPage)
		}
		page = page[:0]
		err := st.Datasets(ctx, q, func(d *Dataset) error {
			page = append(page, d)
			return nil
		})
		if err != nil {
			return err
		}
		for _, d := range page {
			if err := fn(d); err != nil {
				return err
			}
		}
		if len(page) < q.Limit {
			return nil
		}
		if left > 0 {
			if left -= len(page); left == 0 {
				return nil
			}
		}
		last := page[len(page)-1]
		f.Cursor, f.Offset = &ListCursor{CreatedAt: last.CreatedAt, ID: last.ID}, 0
	}
}
