package profile

import (
	"errors"
	"fmt"
	"time"
)

// Date is a calendar date without a time of day or a time zone, such as a
// birthday: the same day wherever it is read. The zero value means no date.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// dateLayout is how dates are written everywhere: ISO 8601, which also sorts
// as text.
const dateLayout = "2006-01-02"

// errDateFormat does not quote the input: dates handed to ParseDate are
// birthdays, which are personal data.
var errDateFormat = errors.New("not a calendar date written YYYY-MM-DD")

// ParseDate parses a date written YYYY-MM-DD (four-digit year, two-digit
// month and day) that exists in the Gregorian calendar: 2023-02-29 fails.
// The error does not contain s.
func ParseDate(s string) (Date, error) {
	// time.Parse accepts a single-digit day where the layout has two, so
	// the length is checked too; it rejects days past the month's end.
	if len(s) != len(dateLayout) {
		return Date{}, errDateFormat
	}
	t, err := time.Parse(dateLayout, s)
	if err != nil {
		return Date{}, errDateFormat
	}
	return DateOf(t), nil
}

// DateOf returns the date of t in t's own location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{Year: y, Month: m, Day: d}
}

// IsZero reports whether d is the zero Date, which means no date.
func (d Date) IsZero() bool { return d == Date{} }

// Valid reports whether d is a day of the Gregorian calendar with a year
// from 1 to 9999 (what YYYY-MM-DD can write).
func (d Date) Valid() bool {
	if d.Year < 1 || d.Year > 9999 || d.Month < time.January || d.Month > time.December || d.Day < 1 {
		return false
	}
	return DateOf(time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC)) == d
}

// Before reports whether d is an earlier day than e.
func (d Date) Before(e Date) bool {
	if d.Year != e.Year {
		return d.Year < e.Year
	}
	if d.Month != e.Month {
		return d.Month < e.Month
	}
	return d.Day < e.Day
}

// String returns d as YYYY-MM-DD, or "" for the zero Date. An invalid date
// prints its fields as they are.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

// MarshalText writes d as YYYY-MM-DD, or empty for the zero Date. An
// invalid date is an error.
func (d Date) MarshalText() ([]byte, error) {
	if !d.IsZero() && !d.Valid() {
		return nil, errors.New("profile: date is not a calendar day")
	}
	return []byte(d.String()), nil
}

// UnmarshalText reads YYYY-MM-DD as ParseDate does; empty text is the zero
// Date.
func (d *Date) UnmarshalText(text []byte) error {
	if len(text) == 0 {
		*d = Date{}
		return nil
	}
	parsed, err := ParseDate(string(text))
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	*d = parsed
	return nil
}
