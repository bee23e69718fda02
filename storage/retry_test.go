package storage

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"weibao/bot"
)

func TestRetry(t *testing.T) {
	deadlock := &mysqldrv.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock"}
	lockWait := &mysqldrv.MySQLError{Number: 1205, Message: "Lock wait timeout exceeded"}
	busy := errors.New("database is locked (5) (SQLITE_BUSY)")
	duplicate := &mysqldrv.MySQLError{Number: 1062, Message: "Duplicate entry"}
	tests := []struct {
		name      string
		errs      []error // the write's results, nil after the last
		wantErr   error
		wantCalls int
	}{
		{"deadlock, then done", []error{deadlock, deadlock}, nil, 3},
		{"lock wait timeout", []error{lockWait}, nil, 2},
		{"sqlite busy", []error{busy}, nil, 2},
		{"wrapped deadlock", []error{fmt.Errorf("outbox 7: %w", deadlock)}, nil, 2},
		{"other error at once", []error{duplicate}, duplicate, 1},
		{"deadlocks to the end", []error{deadlock, deadlock, deadlock, deadlock, deadlock, deadlock}, deadlock, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			err := retry(context.Background(), func() error {
				calls++
				if calls <= len(tt.errs) {
					return tt.errs[calls-1]
				}
				return nil
			})
			if !errors.Is(err, tt.wantErr) || calls != tt.wantCalls {
				t.Errorf("retry = %v after %d calls, want %v after %d", err, calls, tt.wantErr, tt.wantCalls)
			}
		})
	}
}

func TestRetryStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := retry(ctx, func() error {
		calls++
		cancel()
		return &mysqldrv.MySQLError{Number: 1213}
	})
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Errorf("retry = %v after %d calls, want context.Canceled after 1", err, calls)
	}
}

// TestDeliverySentSurvivesDeadlock: a deadlock while recording a sent
// message is retried, so the row is not left pending to be claimed and
// sent again when its lease ends.
func TestDeliverySentSurvivesDeadlock(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite", filepath.Join(t.TempDir(), "weibao.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Enqueue(ctx, bot.Outgoing{Key: "F1/page/1/eng1", ToUsers: []string{"eng1"}, Text: "P1"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Add(time.Second)
	ds, err := db.ClaimDeliveries(ctx, now, now.Add(time.Minute), 10)
	if err != nil || len(ds) != 1 {
		t.Fatalf("claim = %v, %v", ds, err)
	}
	deadlocks := 1
	err = db.gdb.Callback().Update().Before("gorm:update").Register("test:deadlock", func(tx *gorm.DB) {
		if deadlocks > 0 {
			deadlocks--
			tx.AddError(&mysqldrv.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock"})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.DeliverySent(ctx, ds[0].ID, now, "msgid-1"); err != nil {
		t.Fatalf("DeliverySent = %v", err)
	}
	if n, err := db.PendingOutbox(ctx); n != 0 || err != nil {
		t.Errorf("pending = %d, %v; want the message recorded as sent", n, err)
	}
}
