package bot

import "time"

// Clock is injected everywhere time is read so tests fast-forward instead of sleeping.
type Clock interface{ Now() time.Time }

// SystemClock reads the machine's clock.
type SystemClock struct{}

func (SystemClock) Now() time.Time { return time.Now() }
