package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"weibao/storage/redisstore/redistest"
)

func TestValues(t *testing.T) {
	ctx := context.Background()
	st, _ := redistest.Open(t)
	v := st.Values(redistest.Prefix())
	if _, ok, err := v.Get(ctx, "k"); ok || err != nil {
		t.Fatalf("Get of a missing key = %v, %v", ok, err)
	}
	if err := v.Set(ctx, "k", "v1", time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := v.Get(ctx, "k"); got != "v1" || !ok || err != nil {
		t.Fatalf("Get = %q, %v, %v; want v1", got, ok, err)
	}
	if ok, err := v.Exists(ctx, "k"); !ok || err != nil {
		t.Fatalf("Exists = %v, %v", ok, err)
	}
	if ok, err := v.SetNX(ctx, "k", "v2", time.Minute); ok || err != nil {
		t.Fatalf("SetNX over a value = %v, %v; want false", ok, err)
	}
	if err := v.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if ok, err := v.Exists(ctx, "k"); ok || err != nil {
		t.Fatalf("Exists after Delete = %v, %v", ok, err)
	}
	if ok, err := v.Claim(ctx, "once", time.Minute); !ok || err != nil {
		t.Fatalf("first Claim = %v, %v", ok, err)
	}
	if ok, err := v.Claim(ctx, "once", time.Minute); ok || err != nil {
		t.Fatalf("second Claim = %v, %v; want false", ok, err)
	}
	first, err := v.ClaimAll(ctx, []string{"a", "once", "b", "a"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]bool{true, false, true, false}, first); diff != "" {
		t.Errorf("ClaimAll (-want +got):\n%s", diff)
	}
}

// TestValuesRedisDown: with Redis down ClaimAll fails as a whole, instead of
// reporting every key as taken (go-redis's results for a failed pipeline).
func TestValuesRedisDown(t *testing.T) {
	v := redistest.Down(t).Values("")
	if first, err := v.ClaimAll(context.Background(), []string{"a", "b"}, time.Minute); err == nil {
		t.Fatalf("ClaimAll = %v, nil; want an error", first)
	}
}
