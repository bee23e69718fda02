package redisstore_test

import (
	"testing"

	"weibao/sla/pager"
	"weibao/sla/pager/pagertest"
	"weibao/storage/redisstore/redistest"
)

func TestRateLog(t *testing.T) {
	pagertest.TestReserver(t, func(t *testing.T) pager.Reserver {
		st, _ := redistest.Open(t)
		return st.RateLog(redistest.Prefix())
	})
}
