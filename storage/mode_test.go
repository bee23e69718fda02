package storage

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// Issue 18 item 9: the SQLite file and its WAL hold fault reports, names and
// phone numbers: owner only, also when an older version left it 0644.
func TestSQLiteFileIsPrivate(t *testing.T) {
	for _, existing := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "data", "weibao.db")
		if existing {
			os.MkdirAll(filepath.Dir(path), 0o755)
			if err := os.WriteFile(path, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		db, err := Open(context.Background(), "sqlite", path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.EndDialogue(context.Background(), "x"); err != nil { // a write: the WAL exists
			t.Fatal(err)
		}
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("existing %v: %s is %v, want 0600", existing, filepath.Base(p), fi.Mode().Perm())
			}
		}
		db.Close()
	}
}
