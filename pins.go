package silo

import "sync"

// Pins are blobs that a running backup still has to read: deleteBlobs
// leaves a pinned garbage blob in the ledger, and a later sweep deletes it
// once the backup let go. A backup pins everything while it takes its
// snapshot (it does not know yet which blobs the snapshot refers to), then
// only what the snapshot refers to while it streams them.
type Pins struct {
	mu   sync.Mutex
	all  int            // holders of "pin everything"
	keys map[string]int // key -> holders
}

// PinAll keeps every blob until the returned function is called.
func (p *Pins) PinAll() (unpin func()) {
	p.mu.Lock()
	p.all++
	p.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			p.all--
			p.mu.Unlock()
		})
	}
}

// Pin keeps the given blobs until the returned function is called.
func (p *Pins) Pin(keys []string) (unpin func()) {
	p.mu.Lock()
	if p.keys == nil {
		p.keys = map[string]int{}
	}
	for _, k := range keys {
		p.keys[k]++
	}
	p.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			for _, k := range keys {
				if p.keys[k]--; p.keys[k] <= 0 {
					delete(p.keys, k)
				}
			}
			p.mu.Unlock()
		})
	}
}

// Pinned reports whether key must not be deleted now.
func (p *Pins) Pinned(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.all > 0 || p.keys[key] > 0
}

// Active reports whether any backup holds pins.
func (p *Pins) Active() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.all > 0 || len(p.keys) > 0
}

// PinnedAll reports whether a backup pins every blob (it is taking its
// snapshot): the sweep then need not even list the garbage.
func (p *Pins) PinnedAll() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.all > 0
}

// AuthorizeBackup checks that the caller may take a backup: it holds every
// organisation's data and the signing secret, so admin keys only.
func (s *Service) AuthorizeBackup(c *Caller) error { return require(c, RoleAdmin) }
