package storage

import (
	"context"
	"strings"

	"gorm.io/gorm"
)

// DuringClaim runs fn once, inside the next claim after its locking read:
// a test's window on the locks a claim holds.
func (db *DB) DuringClaim(fn func()) error {
	done := false
	return db.gdb.Callback().Query().After("gorm:query").Register("test:during_claim", func(tx *gorm.DB) {
		if !done {
			done = true
			fn()
		}
	})
}

// FindText returns "table.column" of the first value in any table that
// contains s, or "" when none does (blob columns included).
func (db *DB) FindText(ctx context.Context, s string) string {
	tables, err := db.gdb.Migrator().GetTables()
	if err != nil {
		return "error: " + err.Error()
	}
	for _, table := range tables {
		rows, err := db.gdb.WithContext(ctx).Table(table).Rows()
		if err != nil {
			return "error: " + err.Error()
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			rows.Scan(ptrs...)
			for i, v := range vals {
				var text string
				switch x := v.(type) {
				case []byte:
					text = string(x)
				case string:
					text = x
				}
				if strings.Contains(text, s) {
					rows.Close()
					return table + "." + cols[i]
				}
			}
		}
		rows.Close()
	}
	return ""
}
