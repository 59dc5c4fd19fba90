package sqlite

import (
	"sync"

	"github.com/silo-datasets/silo"
)

// keyCache is the embedded store's in-memory copy of what KeyWithOrg reads:
// a key and its org's row (the usage counters included), by key hash. Every
// API request authenticates, and the usage request is nothing else, so
// reading SQLite for it was most of the request's CPU.
//
// It is exact, not a TTL cache: this process is the database's only writer
// (vfs=unix-excl, one write connection, the data directory locked), so
// every change to a key or an org goes through Store.tx, which clears the
// cache after its commit and before it returns — before the write is
// acknowledged to anyone. A revoked key is refused on its next request, a
// create's bytes are in the next usage answer.
//
// A reader that missed fills the cache only if no write finished while it
// read the database (gen unchanged), so a row read before a commit is never
// stored after that commit cleared the cache.
//
// The whole cache is cleared on every write transaction, whatever it wrote:
// simple to see correct, and a miss costs no more than the uncached lookup.
// Between a commit and the clear (a few instructions, inside tx) a
// concurrent request may still read the old row; the write has not been
// acknowledged then, so no one can tell.
type keyCache struct {
	mu  sync.RWMutex
	gen uint64
	m   map[string]keyOrg
}

type keyOrg struct {
	key silo.Key
	org *silo.Org // nil: the key's org is gone
}

// maxCachedKeys bounds the cache; when full it is cleared and refills with
// the keys in use.
const maxCachedKeys = 1 << 16

// get returns a copy of the cached key and org, and the generation to pass
// to put after a miss. (The copies share the key's Hash and RevokedAt with
// the cache; no caller writes through them.)
func (c *keyCache) get(hash []byte) (k *silo.Key, o *silo.Org, ok bool, gen uint64) {
	c.mu.RLock()
	e, ok := c.m[string(hash)]
	gen = c.gen
	c.mu.RUnlock()
	if !ok {
		return nil, nil, false, gen
	}
	if e.org == nil {
		k = new(silo.Key)
		*k = e.key
		return k, nil, true, gen
	}
	// Both copies in one allocation: every request makes them.
	p := &struct {
		k silo.Key
		o silo.Org
	}{e.key, *e.org}
	return &p.k, &p.o, true, gen
}

// put stores what a reader read from the database, unless a write
// finished since gen was read.
func (c *keyCache) put(gen uint64, hash []byte, k *silo.Key, o *silo.Org) {
	e := keyOrg{key: *k}
	if o != nil {
		org := *o
		e.org = &org
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if c.m == nil || len(c.m) >= maxCachedKeys {
		c.m = make(map[string]keyOrg)
	}
	c.m[string(hash)] = e
}

// clear forgets everything; tx calls it after every write transaction,
// committed or not (a commit whose answer was an error may still have
// committed).
func (c *keyCache) clear() {
	c.mu.Lock()
	c.gen++
	clear(c.m)
	c.mu.Unlock()
}
