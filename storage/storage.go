// Package storage keeps weibao's source of truth in a relational database:
// MySQL/MariaDB in production, a SQLite file on the embedded default. gorm
// types stay in this package; its repositories speak bot's domain types.
package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"weibao/bot"
)

// DB is an open database with weibao's schema migrated.
type DB struct {
	gdb    *gorm.DB
	read   *gorm.DB // report queries: a MySQL read replica (Options.ReadDSN), else gdb
	driver string
	loc    *time.Location
	clock  bot.Clock
	subs   []func(ctx context.Context, c bot.Committed) // see Subscribe
	dir    *dirCache                                    // directory lookups, see dircache.go
	// kbFulltext: the knowledge base has its ngram FULLTEXT index (knowledge.go).
	kbFulltext bool
}

// Options tune Open.
type Options struct {
	// Location decides the day a ticket number is counted in (Asia/Shanghai).
	Location *time.Location
	// ReadDSN names a MySQL read replica for the report queries (digests,
	// summaries, exports), which a few seconds of replication lag does not
	// hurt; empty: they read the primary.
	ReadDSN string
	// Clock times the outbox's rows (queued, first due), on the clock the
	// outbox worker reads to claim them and to age them by their rule;
	// default the system clock.
	Clock bot.Clock
}

// Open connects to driver ("sqlite" or "mysql") at dsn and runs the migrations.
func Open(ctx context.Context, driver, dsn string, opt Options) (*DB, error) {
	if opt.Location == nil {
		opt.Location = time.UTC
	}
	if opt.Clock == nil {
		opt.Clock = bot.SystemClock{}
	}
	var dial gorm.Dialector
	switch driver {
	case "sqlite":
		if err := private(dsn); err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		// WAL and a busy timeout let readers work beside the single writer.
		dial = sqlite.Open(dsn + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)")
	case "mysql":
		var err error
		if dial, err = mysqlDialector(dsn); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("open: unknown driver %q", driver)
	}
	if opt.ReadDSN != "" && driver != "mysql" {
		return nil, fmt.Errorf("open: a read replica needs mysql, not %s", driver)
	}
	gdb, err := openGorm(dial, driver)
	if err != nil {
		return nil, err
	}
	db := &DB{gdb: gdb, read: gdb, driver: driver, loc: opt.Location, clock: opt.Clock, dir: &dirCache{}}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	db.kbFulltext = driver == "mysql" && gdb.Migrator().HasIndex(&kbRow{}, kbFulltext)
	if opt.ReadDSN != "" {
		dial, err := mysqlDialector(opt.ReadDSN)
		var read *gorm.DB
		if err == nil {
			read, err = openGorm(dial, driver)
		}
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("read replica: %w", err)
		}
		db.read = read
	}
	return db, nil
}

func mysqlDialector(dsn string) (gorm.Dialector, error) {
	cfg, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("open mysql: %w", err)
	}
	// Times are stored in UTC and read back as time.Time.
	cfg.ParseTime, cfg.Loc = true, time.UTC
	// Send each statement once with its arguments inlined by the driver,
	// instead of prepare + execute + close: a third of the round trips
	// and of the server's work per query.
	cfg.InterpolateParams = true
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["charset"] = "utf8mb4"
	return mysql.Open(cfg.FormatDSN()), nil
}

func openGorm(dial gorm.Dialector, driver string) (*gorm.DB, error) {
	gdb, err := gorm.Open(dial, &gorm.Config{
		TranslateError: true,
		// A single INSERT or UPDATE is atomic on its own; wrapping each in
		// BEGIN/COMMIT only adds two round trips. Multi-statement writes use
		// db.transaction.
		SkipDefaultTransaction: true,
		// Statements carry fault text; nothing is logged here, errors are returned.
		Logger:  logger.Discard,
		NowFunc: func() time.Time { return time.Now().UTC().Truncate(time.Millisecond) },
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", driver, err)
	}
	sqlDB, err := gdb.DB()
	if err != nil {
		return nil, err
	}
	if driver == "sqlite" {
		// SQLite has one writer; one connection turns lock errors into waiting.
		sqlDB.SetMaxOpenConns(1)
	} else {
		sqlDB.SetMaxOpenConns(20)
		sqlDB.SetMaxIdleConns(10)
		sqlDB.SetConnMaxLifetime(30 * time.Minute)
	}
	return gdb, nil
}

// private creates the SQLite file readable by its owner only (0600; SQLite
// gives its -wal and -shm files the same mode): it holds fault reports,
// names and phone numbers. An existing file is narrowed to it too.
func private(path string) error {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Chmod(0o600)
}

// Subscribe adds fn to the feed of committed changes: after every commit
// that stored a ticket change or queued messages, each subscriber is called
// in turn, in the committing goroutine, with what was committed. A
// subscriber must be quick and must not fail the write: the database is the
// truth, and what a crash between commit and subscriber loses is rebuilt by
// the subscribers' own sweeps (timers: the escalation reconcile; messages:
// the outbox poll; fault analyses: the report sweep). Subscribe while wiring,
// before the DB is shared.
func (db *DB) Subscribe(fn func(ctx context.Context, c bot.Committed)) { db.subs = append(db.subs, fn) }

// publish hands c to every subscriber.
func (db *DB) publish(ctx context.Context, c bot.Committed) {
	if c.Ticket == nil && c.Record == nil && c.Queued == 0 {
		return
	}
	for _, fn := range db.subs {
		fn(ctx, c)
	}
}

// Close closes the connection pools.
func (db *DB) Close() error {
	pools := []*gorm.DB{db.gdb}
	if db.read != db.gdb {
		pools = append(pools, db.read)
	}
	var errs []error
	for _, g := range pools {
		sqlDB, err := g.DB()
		if err == nil {
			err = sqlDB.Close()
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Ping checks the database answers (for /readyz).
func (db *DB) Ping(ctx context.Context) error {
	sqlDB, err := db.gdb.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// Driver names the database kind ("sqlite" or "mysql").
func (db *DB) Driver() string { return db.driver }

// transaction runs fn in a transaction (with opts, if any), again on a
// deadlock or a busy lock (see retry).
func (db *DB) transaction(ctx context.Context, fn func(tx *gorm.DB) error, opts ...*sql.TxOptions) error {
	return translate(retry(ctx, func() error { return db.gdb.WithContext(ctx).Transaction(fn, opts...) }))
}

// retry runs write and runs it again when the database reports a deadlock
// or a busy lock, which MySQL and SQLite both do under concurrent writers
// and which a retry resolves. The database rolled the write back, so write
// must be safe to run again.
func retry(ctx context.Context, write func() error) error {
	var err error
	for attempt := range 5 {
		err = write()
		if !retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 10 * time.Millisecond):
		}
	}
	return err
}

func retryable(err error) bool {
	if err == nil {
		return false
	}
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1213 || me.Number == 1205 // deadlock, lock wait timeout
	}
	s := err.Error()
	return strings.Contains(s, "database is locked") || strings.Contains(s, "SQLITE_BUSY")
}

// translate maps database errors to bot's kinds; others pass through wrapped.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound):
		return fmt.Errorf("%w: %v", bot.ErrNotFound, err)
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return fmt.Errorf("%w: %v", bot.ErrConflict, err)
	}
	return err
}

// ms normalises a time as the database keeps it: UTC, millisecond precision.
func ms(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Millisecond)
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = ms(t)
	return &t
}

func fromNull(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
