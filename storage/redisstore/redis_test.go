package redisstore_test

import (
	"context"
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
