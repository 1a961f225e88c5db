package db

import (
	"fmt"
	"time"
)

// sqliteTimeLayout is how timestamps are stored in SQLite TEXT columns: UTC,
// fixed width, microseconds. Fixed width makes text order chronological
// order, so SQLite can compare and sort the column; microseconds are
// PostgreSQL's precision, so a value reads back the same on both engines.
const sqliteTimeLayout = "2006-01-02T15:04:05.000000Z"

// TimeArg converts t into the query argument a timestamp column of dialect
// expects: a TIMESTAMPTZ value on PostgreSQL, fixed-width UTC text on SQLite.
// Either way t is converted to UTC and truncated to microseconds, the
// precision both engines keep, so what Timestamp reads back equals
// TimeArg's input after t.UTC().Truncate(time.Microsecond).
func (d Dialect) TimeArg(t time.Time) any {
	t = t.UTC().Truncate(time.Microsecond)
	if d == SQLite {
		return t.Format(sqliteTimeLayout)
	}
	return t
}

// Timestamp scans a timestamp column written with TimeArg, or by the
// database itself, on either dialect: a time.Time from PostgreSQL, RFC 3339
// text from SQLite. The result is in UTC. NULL is an error; scan nullable
// columns into a sql.Null[Timestamp] instead.
type Timestamp struct {
	Time time.Time
}

// Scan implements sql.Scanner.
func (ts *Timestamp) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		ts.Time = v.UTC()
		return nil
	case string:
		return ts.parse(v)
	case []byte:
		return ts.parse(string(v))
	case nil:
		return fmt.Errorf("db: scan timestamp: NULL")
	default:
		return fmt.Errorf("db: scan timestamp: unsupported type %T", src)
	}
}

func (ts *Timestamp) parse(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("db: scan timestamp: %w", err)
	}
	ts.Time = t.UTC()
	return nil
}
