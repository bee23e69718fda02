package redisstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"weibao/storage/redisstore"
)

func TestOpenBadURLHidesPassword(t *testing.T) {
	_, err := redisstore.Open(context.Background(), "redis://:s3cret-pw@host:port/0")
	if err == nil {
		t.Fatal("Open accepted a bad port")
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("error shows the password: %v", err)
	}
}

func TestNewClientKinds(t *testing.T) {
	for _, tc := range []struct {
		url, kind, addrs string
	}{
		{"redis://:pw@10.0.0.1:6379/2", "*redis.Client", "10.0.0.1:6379"},
		{"redis-sentinel://:pw@s1:26379,s2:26379,s3:26379/0?master_name=weibao", "*redis.Client", "sentinel weibao at s1:26379,s2:26379,s3:26379"},
		{"redis://s1:26379?master_name=weibao&addr=s2:26379", "*redis.Client", "sentinel weibao at s1:26379,s2:26379"},
		{"redis-cluster://n1:7000,n2:7001,n3:7002", "*redis.ClusterClient", "cluster n1:7000,n2:7001,n3:7002"},
		{"rediss-cluster://user:pw@n1:7000?addr=n2:7001", "*redis.ClusterClient", "cluster n1:7000,n2:7001"},
	} {
		rdb, addrs, err := redisstore.NewClient(tc.url)
		if err != nil {
			t.Errorf("NewClient(%s): %v", tc.url, err)
			continue
		}
		if kind := fmt.Sprintf("%T", rdb); kind != tc.kind || addrs != tc.addrs {
			t.Errorf("NewClient(%s) = %s %q, want %s %q", tc.url, kind, addrs, tc.kind, tc.addrs)
		}
		rdb.Close()
	}
	for _, bad := range []string{"redis://a:1,b:2", "redis-sentinel://s1:26379", "redis://:s3cret-pw@host:port/0"} {
		if _, _, err := redisstore.NewClient(bad); err == nil {
			t.Errorf("NewClient(%s) accepted it", bad)
		} else if strings.Contains(err.Error(), "s3cret-pw") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}
