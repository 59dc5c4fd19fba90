package validate

import "hash/maphash"

// rowArena holds what the one-pass decoder carves out for a batch of rows
// (their fields, message lists, unquoted strings) and the Avro encoding of
// the rows the workers prepared. It is reused, not reallocated, once every
// row of the batch has been ruled on and written: in steady state a row
// costs no allocation. A slab that append outgrows is dropped, not copied
// back, so the rows already carved out of it keep their bytes.
type rowArena struct {
	text []byte
	rows []fields
	msgs []message
	kvs  []rawField
	avro []byte
}

// reset makes the arena's slabs empty for a new batch. What grew past its
// usual size (a giant row's) is let go rather than kept for every batch.
func (a *rowArena) reset() {
	if cap(a.text) > 1<<20 {
		a.text = nil
	}
	if cap(a.avro) > 2*parallelBatch {
		a.avro = nil
	}
	a.text, a.rows, a.msgs, a.kvs, a.avro = a.text[:0], a.rows[:0], a.msgs[:0], a.kvs[:0], a.avro[:0]
}

// rowPrep is what a decoding worker finds out about a row by itself, so
// that the run, which sees the rows one at a time in file order, is left
// with what depends on the rows before (duplicates, counts, the Avro
// container): the two stages then share the cores evenly.
type rowPrep struct {
	done bool
	rerr *rowError // a missing required field or a rule the row breaks
	// Chat rows (chatRules.check).
	msgs  []message
	long  int
	total int64
	key   uint64 // the conversation's hash, with the set's seed
	// avro is the row's Avro encoding when the part is written as the
	// rows come (no metadata columns to spool).
	avro []byte
}

// prefetcher is implemented by the rules whose run looks each row up in
// a large table (the duplicate set): given a batch of decoded rows before
// the run reaches them, it touches the memory their lookups will read, all
// at once, so that the cache misses overlap instead of costing one row at
// a time on the run's goroutine, which every row passes through.
type prefetcher interface {
	prefetch(rows []decodedRow, eval bool)
}

// preparer is implemented by the rules that can check a row by itself.
type preparer interface {
	prepare(f *fields, eval bool, a *rowArena, encode bool)
}

// rowPrepFunc returns the check the decoders run on each row they decode,
// or nil when the type has none. It reads only what does not change
// during the validation (the layout, the rules' seeds and tokenizer), so
// the workers may run it concurrently.
func (r *run) rowPrepFunc(eval bool) func(f *fields, a *rowArena) {
	pr, ok := r.rules.(preparer)
	if !ok {
		return nil
	}
	encode := r.meta == nil
	return func(f *fields, a *rowArena) {
		f.prep.done = true
		if f.prep.rerr = r.missing(f); f.prep.rerr == nil {
			pr.prepare(f, eval, a, encode)
		}
	}
}

// prepare runs a chat row's own checks and, if the row may be kept,
// encodes it: the layout of a chat dataset without metadata fields is the
// messages alone.
func (c *chatRules) prepare(f *fields, eval bool, a *rowArena, encode bool) {
	p := &f.prep
	if p.rerr = c.check(f, eval); p.rerr != nil || p.long > 0 || !encode {
		return
	}
	if a.avro == nil {
		// About a batch's worth: a chat row's Avro is a little smaller
		// than its JSON.
		a.avro = make([]byte, 0, parallelBatch)
	}
	n := len(a.avro)
	a.avro = appendMessages(a.avro, p.msgs)
	p.avro = a.avro[n:len(a.avro):len(a.avro)]
}

// check fills in f.prep with what a chat row's rules need of it alone:
// its messages (with their tokens), the role and preamble rules, the
// turns over the limit and, for a row that may be kept, its duplicate key.
func (c *chatRules) check(f *fields, eval bool) *rowError {
	p := &f.prep
	msgs, rerr := chatMessages(f)
	if rerr != nil {
		return rerr
	}
	countTokens(msgs, c.tok)
	if rerr := chatRoleRules(msgs, eval); rerr != nil {
		return rerr
	}
	p.msgs = msgs
	p.long, p.total = longTurns(msgs)
	if p.long == 0 {
		p.key = conversationHash(c.seen[evalIndex(eval)].seed, msgs)
	}
	return nil
}

func evalIndex(eval bool) int {
	if eval {
		return 1
	}
	return 0
}

// conversationHash is the key that makes two conversations duplicates: the
// hash of their roles and contents, in order. Each string is hashed in one
// call (maphash.String, over the view of the row) and folded into the key
// with a multiply and a shift, a bijection of the key so far: 2.3x faster
// than streaming the strings through a maphash.Hash (which hashes 128-byte
// pieces), and without the old ambiguity of NUL separators (a content
// holding a NUL could make two conversations one string).
func conversationHash(seed maphash.Seed, msgs []message) uint64 {
	h := uint64(len(msgs))
	for _, m := range msgs {
		h = fold(h ^ maphash.String(seed, m.Role))
		h = fold(h ^ maphash.String(seed, m.Content))
	}
	return h
}

func fold(h uint64) uint64 {
	h *= 0x9E3779B97F4A7C15
	return h ^ h>>29
}
