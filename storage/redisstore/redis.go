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
	"strings"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Store owns the connection to Redis and hands out the types built on it.
type Store struct {
	rdb redis.UniversalClient
	mr  *miniredis.Miniredis // the in-process store, nil on a server
}

// Open connects to rawURL, or to a fresh in-process store when rawURL is
// empty. rawURL names one server (redis:// or rediss://), Sentinel
// (redis-sentinel://s1:26379,s2:26379/0?master_name=mymaster, or
// redis://s1:26379?master_name=mymaster&addr=s2:26379) or a Cluster
// (redis-cluster://n1:7000,n2:7000); see NewClient.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	if rawURL == "" {
		mr := miniredis.NewMiniRedis()
		if err := mr.Start(); err != nil {
			return nil, fmt.Errorf("start embedded redis: %w", err)
		}
		return &Store{rdb: redis.NewClient(&redis.Options{Addr: mr.Addr()}), mr: mr}, nil
	}
	rdb, addrs, err := NewClient(rawURL)
	if err != nil {
		return nil, err
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis %s: %w", addrs, err)
	}
	return &Store{rdb: rdb}, nil
}

// NewClient makes the client rawURL names, without connecting; addrs is
// for messages (it holds no password). Several hosts are given
// comma-separated or as addr= parameters. Every multi-key script and
// transaction weibao runs keeps its keys in one hash slot ({tag}), so all
// three kinds run the same code.
func NewClient(rawURL string) (rdb redis.UniversalClient, addrs string, err error) {
	scheme, rest, _ := strings.Cut(rawURL, "://")
	kind := ""
	switch scheme {
	case "redis-sentinel", "rediss-sentinel", "redis-cluster", "rediss-cluster":
		scheme, kind, _ = strings.Cut(scheme, "-")
	}
	// The first host stays the URL's; the others become addr= parameters,
	// the form go-redis reads.
	auth, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		auth, tail = rest[:i], rest[i:]
	}
	user, hosts := "", auth
	if i := strings.LastIndex(auth, "@"); i >= 0 {
		user, hosts = auth[:i+1], auth[i+1:]
	}
	first, more, _ := strings.Cut(hosts, ",")
	if more != "" {
		sep := "?"
		if strings.Contains(tail, "?") {
			sep = "&"
		}
		tail += sep + "addr=" + strings.ReplaceAll(more, ",", "&addr=")
	}
	u := scheme + "://" + user + first + tail
	if kind == "" && strings.Contains(tail, "master_name=") {
		kind = "sentinel"
	}
	switch kind {
	case "sentinel":
		opt, perr := redis.ParseFailoverURL(u)
		if perr != nil {
			return nil, "", urlError(perr)
		}
		if opt.MasterName == "" {
			return nil, "", errors.New("redis url: sentinel needs master_name")
		}
		return redis.NewFailoverClient(opt), "sentinel " + opt.MasterName + " at " + strings.Join(opt.SentinelAddrs, ","), nil
	case "cluster":
		opt, perr := redis.ParseClusterURL(u)
		if perr != nil {
			return nil, "", urlError(perr)
		}
		return redis.NewClusterClient(opt), "cluster " + strings.Join(opt.Addrs, ","), nil
	}
	if more != "" {
		return nil, "", errors.New("redis url: several hosts need redis-sentinel:// or redis-cluster://")
	}
	opt, perr := redis.ParseURL(u)
	if perr != nil {
		return nil, "", urlError(perr)
	}
	return redis.NewClient(opt), opt.Addr, nil
}

// urlError drops the URL url.Parse's error repeats, password included.
func urlError(err error) error {
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("redis url: %w", err)
}

// New wraps a client the caller made (redistest); Close closes it.
func New(rdb redis.UniversalClient) *Store { return &Store{rdb: rdb} }

// Client is the connection itself, for sla/timerwheel, which keeps its own
// scripts.
func (s *Store) Client() redis.UniversalClient { return s.rdb }

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
