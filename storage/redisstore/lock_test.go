package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"weibao/storage/redisstore"
	"weibao/storage/redisstore/redistest"
)

func TestLock(t *testing.T) {
	ctx := context.Background()
	st, _ := redistest.Open(t)
	key := redistest.Prefix() + "lock"
	a, b := st.Lock(key, "a"), st.Lock(key, "b")
	step := func(name string, got bool, err error, want bool) {
		t.Helper()
		if err != nil || got != want {
			t.Fatalf("%s = %v, %v; want %v", name, got, err, want)
		}
	}
	ok, err := a.Claim(ctx, time.Minute)
	step("a.Claim", ok, err, true)
	ok, err = b.Claim(ctx, time.Minute)
	step("b.Claim while a holds it", ok, err, false)
	ok, err = b.Extend(ctx, time.Minute)
	step("b.Extend while a holds it", ok, err, false)
	ok, err = b.Acquire(ctx, time.Minute)
	step("b.Acquire while a holds it", ok, err, false)
	ok, err = a.Acquire(ctx, time.Minute)
	step("a.Acquire (renew)", ok, err, true)
	ok, err = a.Extend(ctx, time.Minute)
	step("a.Extend", ok, err, true)
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	ok, err = b.Claim(ctx, time.Minute)
	step("b.Claim after b's release of a's lock", ok, err, false)
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	ok, err = b.Acquire(ctx, time.Minute)
	step("b.Acquire after a's release", ok, err, true)
}

func TestLockExpires(t *testing.T) {
	ctx := context.Background()
	st, mr := redistest.Open(t)
	key := redistest.Prefix() + "lock"
	a, b := st.Lock(key, "a"), st.Lock(key, "b")
	if ok, err := a.Claim(ctx, 20*time.Millisecond); !ok || err != nil {
		t.Fatalf("a.Claim = %v, %v", ok, err)
	}
	if mr != nil {
		mr.FastForward(time.Second) // miniredis expires keys on its own clock
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, err := b.Acquire(ctx, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a's expired lock was never free")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ok, err := a.Extend(ctx, time.Minute); ok || err != nil {
		t.Errorf("a.Extend after expiry = %v, %v; want false: b holds it", ok, err)
	}
}

func TestJobLock(t *testing.T) {
	ctx := context.Background()
	st, _ := redistest.Open(t)
	key := redistest.Prefix() + "job"
	a, b := st.JobLock("a"), st.JobLock("b")
	if ok, err := a.Claim(ctx, key, time.Minute); !ok || err != nil {
		t.Fatalf("a.Claim = %v, %v", ok, err)
	}
	if ok, err := b.Claim(ctx, key, time.Minute); ok || err != nil {
		t.Fatalf("b.Claim = %v, %v; want false", ok, err)
	}
	if err := b.Extend(ctx, key, time.Minute); err == nil {
		t.Error("b.Extend of a's lock: no error, want no longer held")
	}
	if err := a.Extend(ctx, key, time.Minute); err != nil {
		t.Errorf("a.Extend: %v", err)
	}
	if err := a.Release(ctx, key); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Claim(ctx, key, time.Minute); !ok || err != nil {
		t.Fatalf("b.Claim after release = %v, %v", ok, err)
	}
}

func TestSessionsLockWaits(t *testing.T) {
	ctx := context.Background()
	st, _ := redistest.Open(t)
	s := st.Sessions(redistest.Prefix())
	unlock, err := s.Lock(ctx, "chat", time.Minute, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lock(ctx, "chat", time.Minute, 50*time.Millisecond); !errors.Is(err, redisstore.ErrLocked) {
		t.Fatalf("second Lock err = %v, want ErrLocked", err)
	}
	time.AfterFunc(50*time.Millisecond, unlock)
	unlock2, err := s.Lock(ctx, "chat", time.Minute, 5*time.Second)
	if err != nil {
		t.Fatalf("Lock waiting for the release: %v", err)
	}
	unlock2()
}
