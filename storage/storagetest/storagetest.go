// Package storagetest opens databases for tests: a fresh SQLite file by
// default, or, when WEIBAO_TEST_MYSQL_DSN is set, a fresh database on that
// MySQL/MariaDB server (created for the test and dropped after it). With the
// variable set, an unreachable server fails the test: it is never skipped.
package storagetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"

	"weibao/storage"
)

// EnvMySQL names the variable holding the test server's DSN.
const EnvMySQL = "WEIBAO_TEST_MYSQL_DSN"

// Shanghai is the time zone tests number tickets in.
var Shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}()

// Open returns a migrated, empty database that is closed (and on MySQL
// dropped) when the test ends.
func Open(tb testing.TB) *storage.DB {
	tb.Helper()
	driver, dsn := DSN(tb)
	db, err := storage.Open(context.Background(), driver, dsn, storage.Options{Location: Shanghai})
	if err != nil {
		tb.Fatalf("storagetest: open %s: %v", driver, err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// DSN returns a driver and DSN for a fresh, empty database, for tests that
// open it themselves (for example through weibao's configuration).
func DSN(tb testing.TB) (driver, dsn string) {
	tb.Helper()
	base := os.Getenv(EnvMySQL)
	if base == "" {
		return "sqlite", filepath.Join(tb.TempDir(), "weibao.db")
	}
	cfg, err := mysqldrv.ParseDSN(base)
	if err != nil {
		tb.Fatalf("storagetest: %s: %v", EnvMySQL, err)
	}
	admin, err := sql.Open("mysql", base)
	if err != nil {
		tb.Fatalf("storagetest: %v", err)
	}
	defer admin.Close()
	b := make([]byte, 6)
	rand.Read(b)
	name := "weibao_t_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		tb.Fatalf("storagetest: MySQL at %s unreachable or refused: %v", cfg.Addr, err)
	}
	tb.Cleanup(func() {
		admin, err := sql.Open("mysql", base)
		if err == nil {
			admin.Exec("DROP DATABASE IF EXISTS " + name)
			admin.Close()
		}
	})
	cfg.DBName = name
	return "mysql", cfg.FormatDSN()
}
