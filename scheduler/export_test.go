package scheduler

import (
	"context"
	"time"
)

// FireRetrying is the cron's way of firing name, for tests.
func (s *Scheduler) FireRetrying(ctx context.Context, name string, scheduled time.Time) {
	s.mu.Lock()
	e := s.jobs[name]
	s.mu.Unlock()
	s.fireRetrying(ctx, e, scheduled)
}
