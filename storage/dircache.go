package storage

import (
	"errors"
	"sync"
	"time"

	"weibao/bot"
)

// dirTTL bounds how stale a cached directory entry may be: a change made
// by another replica (or written to the tables by hand) is seen this late
// at most. Changes made through this DB invalidate at once.
const dirTTL = 5 * time.Second

// dirCache keeps directory lookups (a person, the wards, the categories)
// that every handled message makes, so a storm does not ask the database
// the same questions thousands of times a second. Not-found answers are
// kept too: an unknown sender is asked about as often as a known one.
type dirCache struct {
	mu      sync.Mutex
	gen     uint64 // bumped by every invalidation
	entries map[string]dirEntry
}

type dirEntry struct {
	v     any
	err   error
	until time.Time
}

// dirCacheMax bounds the entries (mostly people); past it the cache starts over.
const dirCacheMax = 20000

// directoryChanged drops every cached entry; call it after committing a
// change to people, wards, campuses, categories or the on-call roster.
func (db *DB) directoryChanged() {
	c := db.dir
	c.mu.Lock()
	c.gen++
	c.entries = nil
	c.mu.Unlock()
}

// cachedDir returns key's entry, loading it on a miss. A load that raced
// with an invalidation is returned but not kept.
func cachedDir[T any](db *DB, key string, load func() (T, error)) (T, error) {
	c := db.dir
	now := time.Now()
	c.mu.Lock()
	e, ok := c.entries[key]
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		v, _ := e.v.(T)
		return v, e.err
	}
	v, err := load()
	if err != nil && !errors.Is(err, bot.ErrNotFound) {
		return v, err // a failure is not an answer
	}
	c.mu.Lock()
	if c.gen == gen {
		if c.entries == nil || len(c.entries) >= dirCacheMax {
			c.entries = map[string]dirEntry{}
		}
		c.entries[key] = dirEntry{v: v, err: err, until: now.Add(dirTTL)}
	}
	c.mu.Unlock()
	return v, err
}
