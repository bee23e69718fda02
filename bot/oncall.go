package bot

import (
	"context"
	"time"
)

// OnCall is who answers faults at one instant. A nil Primary is a roster
// gap: page the Lead.
type OnCall struct{ Primary, Backup, Lead *Person }

// Roster answers who is on call at a given time.
type Roster interface {
	OnCall(ctx context.Context, at time.Time) (OnCall, error)
}
