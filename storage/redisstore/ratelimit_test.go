package redisstore_test

import (
	"testing"

	"weibao/sla/pager"
	"weibao/sla/pager/pagertest"
	"weibao/storage/redisstore"
	"weibao/storage/redisstore/redistest"
)

func TestRateLog(t *testing.T) {
	pagertest.TestReserver(t, func(t *testing.T) pager.Reserver {
		rdb, _ := redistest.Open(t)
		return redisstore.NewRateLog(rdb, redistest.Prefix())
	})
}
