package pager_test

import (
	"testing"

	"weibao/sla/pager"
	"weibao/sla/pager/pagertest"
)

func TestLimiter(t *testing.T) {
	pagertest.TestReserver(t, func(*testing.T) pager.Reserver { return pager.NewLimiter() })
}
