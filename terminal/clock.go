package terminal

import (
	"sync"
	"time"
)

// Clock is the wall clock plus the jumps the person asked for (/later 3m),
// so dialogue timeouts and 24 h confirmations can be seen at once. The whole
// bot runs on it, so it must be handed to every component that reads time.
type Clock struct {
	mu  sync.Mutex
	off time.Duration
}

// Now is the wall clock moved forward by every Add so far.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

// Add moves the clock forward by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}
