package storage

import "gorm.io/gorm"

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
