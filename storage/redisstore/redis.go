// Package redisstore connects weibao to Redis, which holds only what can be
// rebuilt from the database: timers, survey state, dedupe keys, locks, rate
// windows and the token cache. With no URL it starts an in-process
// Redis-compatible store, so weibao runs with no server at all. It is the
// one place besides sla/timerwheel that speaks to go-redis.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Store owns the connection to Redis and hands out the types built on it.
type Store struct {
	rdb *redis.Client
	mr  *miniredis.Miniredis // the in-process store, nil on a server
}

// Open connects to rawURL, or to a fresh in-process store when rawURL is empty.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	if rawURL == "" {
		mr := miniredis.NewMiniRedis()
		if err := mr.Start(); err != nil {
			return nil, fmt.Errorf("start embedded redis: %w", err)
		}
		return &Store{rdb: redis.NewClient(&redis.Options{Addr: mr.Addr()}), mr: mr}, nil
	}
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		// url.Parse's error repeats the URL, password included.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("redis url: %w", err)
	}
	rdb := redis.NewClient(opt)
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis %s: %w", opt.Addr, err)
	}
	return &Store{rdb: rdb}, nil
}

// New wraps a client the caller made (redistest); Close closes it.
func New(rdb *redis.Client) *Store { return &Store{rdb: rdb} }

// Client is the connection itself, for sla/timerwheel, which keeps its own
// scripts.
func (s *Store) Client() *redis.Client { return s.rdb }

// Embedded reports whether the store runs in this process (no URL given).
func (s *Store) Embedded() bool { return s.mr != nil }

// Ping checks that Redis answers (the readiness check).
func (s *Store) Ping(ctx context.Context) error {
	return s.rdb.Ping(ctx).Err()
}

// Close releases the client and, when embedded, the store.
func (s *Store) Close() error {
	err := s.rdb.Close()
	if s.mr != nil {
		s.mr.Close()
	}
	return err
}
