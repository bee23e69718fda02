package storage_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"weibao/bot"
	"weibao/storage"
	"weibao/storage/storagetest"
)

// With database.read_dsn the report queries read the replica and the rest
// the primary. Here the "replica" is a second database without even the
// schema: a report query failing on its missing table proves where it read.
func TestReportsReadTheReplica(t *testing.T) {
	ctx := context.Background()
	driver, primary := storagetest.DSN(t)
	if driver != "mysql" {
		if _, err := storage.Open(ctx, driver, primary, storage.Options{ReadDSN: "x"}); err == nil {
			t.Fatal("Open took a read replica for SQLite")
		}
		return
	}
	_, replica := storagetest.DSN(t)
	db, err := storage.Open(ctx, driver, primary, storage.Options{Location: storagetest.Shanghai, ReadDSN: replica})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := time.Now().Add(-time.Hour)
	tk := create(t, db, at)
	if got, err := db.Ticket(ctx, tk.No); err != nil || got.No != tk.No {
		t.Fatalf("the primary lacks its ticket: %v", err)
	}
	for name, q := range map[string]func() error{
		"OpenTickets": func() error { _, err := db.OpenTickets(ctx, time.Now(), nil, 10); return err },
		"Counts": func() error {
			_, err := db.Counts(ctx, bot.CohortReported, bot.Span{From: at.Add(-time.Hour), To: time.Now()})
			return err
		},
	} {
		if err := q(); err == nil || !strings.Contains(err.Error(), "doesn't exist") {
			t.Errorf("%s = %v, want it to have read the replica (no tickets table)", name, err)
		}
	}
}
