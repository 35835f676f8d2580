package store

import (
	"errors"

	"github.com/cmca/cmca/internal/msg"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// explained marks an error explain has already said in words.
type explained struct{ error }

func (e explained) Unwrap() error { return e.error }

// explain says in words (a catalogue message, so in the user's language)
// what an SQLite failure a user can meet means and what to do: another
// process holding the lock past the busy timeout, a full disk, a
// read-only file or file system, a file that cannot be opened, a disk's
// I/O error. The driver's text follows in brackets and the chain is kept.
// Other errors (a constraint, a bug) are returned as they are: they are
// internal, and their English text goes behind the class's words.
func explain(err error) error {
	var se *sqlite.Error
	var done explained
	if err == nil || errors.As(err, &done) || !errors.As(err, &se) {
		return err
	}
	var format string
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		format = "the store is locked by another cmca process (a command or `cmca serve`) that did not finish in time; nothing was changed: try again (%w)"
	case sqlite3.SQLITE_FULL:
		format = "the disk holding the store is full; nothing was changed: free space, then try again (%w)"
	case sqlite3.SQLITE_READONLY:
		format = "the store cannot be written: its file, its directory or the file system is read-only (%w)"
	case sqlite3.SQLITE_CANTOPEN:
		format = "the store's database file cannot be opened: check that the home directory exists and that this user may read and write it (%w)"
	case sqlite3.SQLITE_IOERR:
		format = "the disk holding the store reported an I/O error; check the disk and the system log (%w)"
	default:
		return err
	}
	return explained{msg.Errorf(format, err)}
}
