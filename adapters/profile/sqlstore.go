package profile

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"meridian/internal/db"
)

// maxIDsPerQuery bounds the IN lists the store sends, well under the bind
// parameter limits of both engines.
const maxIDsPerQuery = 500

// profileColumns is what scanProfile reads, in order.
const profileColumns = `subject, display_name, mobile, email, birthday, locale, skin_type, skin_concerns, consultant_id, created_at, updated_at, erased_at`

// addressColumns is what scanAddress reads, in order, after the subject.
const addressColumns = `subject, id, recipient_name, recipient_mobile, province, city, district, line1, line2, postal_code, is_default`

// SQLStore is the Store on Meridian's SQL database, SQLite or PostgreSQL. It
// is safe for concurrent use. Every method runs as one transaction, so
// readers never see half of a write.
type SQLStore struct {
	db  *db.DB
	now func() time.Time
}

var _ Store = (*SQLStore)(nil)

// Option configures a SQLStore.
type Option func(*SQLStore)

// WithClock makes the store read the time from now instead of time.Now: it
// stamps CreatedAt and UpdatedAt and decides which birthdays are in the
// future. For tests.
func WithClock(now func() time.Time) Option {
	return func(s *SQLStore) { s.now = now }
}

// NewSQLStore brings the profile tables in database up to date (see
// db.Migrate; the component is "profile") and returns a store on them. It
// may wait for another replica that is migrating the same database, bounded
// by ctx. It fails without touching the database when database is nil or an
// option sets a nil clock. The caller keeps ownership of database and closes
// it after the store's last use.
func NewSQLStore(ctx context.Context, database *db.DB, opts ...Option) (*SQLStore, error) {
	if database == nil {
		return nil, errors.New("profile: new store: nil database")
	}
	s := &SQLStore{db: database, now: time.Now}
	for _, opt := range opts {
		opt(s)
	}
	if s.now == nil {
		return nil, errors.New("profile: new store: nil clock")
	}
	if err := db.Migrate(ctx, database, migrationComponent, migrations()); err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	return s, nil
}

// Get implements Store.
func (s *SQLStore) Get(ctx context.Context, subject string) (Profile, bool, error) {
	if err := checkID("subject", subject); err != nil {
		return Profile{}, false, fmt.Errorf("profile: get: %w", err)
	}
	var p Profile
	var found bool
	err := s.db.ReadTx(ctx, func(tx *db.Tx) error {
		var erased bool
		var err error
		p, erased, found, err = selectProfile(ctx, tx, subject, false)
		if err != nil || !found {
			return err
		}
		if erased {
			found = false
			p = Profile{}
			return nil
		}
		addrs, err := selectAddresses(ctx, tx, []string{subject})
		p.Addresses = addrs[subject]
		return err
	})
	if err != nil {
		return Profile{}, false, fmt.Errorf("profile: get: %w", err)
	}
	return p, found, nil
}

// Upsert implements Store.
func (s *SQLStore) Upsert(ctx context.Context, subject string, patch Patch) (Profile, error) {
	return s.write(ctx, "upsert", subject, patch, true)
}

// Update implements Store.
func (s *SQLStore) Update(ctx context.Context, subject string, patch Patch) (Profile, error) {
	return s.write(ctx, "update", subject, patch, false)
}

// write is Upsert (create true) and Update. The patch is validated before
// the transaction; only whether its address IDs exist depends on the stored
// profile. The row is locked (FOR UPDATE on PostgreSQL; SQLite's write lock
// is taken at BEGIN) so that concurrent patches of one profile apply one
// after the other and neither is lost. A patch that changes nothing writes
// nothing and keeps UpdatedAt.
func (s *SQLStore) write(ctx context.Context, op, subject string, patch Patch, create bool) (Profile, error) {
	if err := checkID("subject", subject); err != nil {
		return Profile{}, fmt.Errorf("profile: %s: %w", op, err)
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	patch, err := normalizePatch(patch, now)
	if err != nil {
		return Profile{}, fmt.Errorf("profile: %s: %w", op, err)
	}
	d := s.db.Dialect()
	var out Profile
	err = s.writeTx(ctx, func(tx *db.Tx) error {
		fresh := false
		if create {
			res, err := tx.ExecContext(ctx,
				"INSERT INTO profile_profiles (subject, created_at, updated_at) VALUES (?, ?, ?) ON CONFLICT (subject) DO NOTHING",
				subject, d.TimeArg(now), d.TimeArg(now))
			if err != nil {
				return fmt.Errorf("insert: %w", err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("insert: %w", err)
			}
			fresh = n == 1
		}
		cur, erased, found, err := selectProfile(ctx, tx, subject, true)
		switch {
		case err != nil:
			return err
		case !found || (erased && !create):
			return ErrNotFound
		case erased:
			// A person coming back after erasure starts a new
			// profile; only the assignment carries over.
			cur = Profile{Subject: subject, ConsultantID: cur.ConsultantID, CreatedAt: now}
			fresh = true
		default:
			addrs, err := selectAddresses(ctx, tx, []string{subject})
			if err != nil {
				return err
			}
			cur.Addresses = addrs[subject]
		}

		next, err := apply(cur, patch)
		if err != nil {
			return err
		}
		if !fresh && sameContent(cur, next) {
			out = cur
			return nil
		}
		next.UpdatedAt = now
		if err := updateProfile(ctx, tx, next); err != nil {
			return err
		}
		if fresh || !slices.Equal(cur.Addresses, next.Addresses) {
			if err := replaceAddresses(ctx, tx, subject, next.Addresses); err != nil {
				return err
			}
		}
		out = next
		return nil
	})
	if err != nil {
		return Profile{}, fmt.Errorf("profile: %s: %w", op, err)
	}
	return out, nil
}

// apply returns cur with patch's fields set. New addresses get IDs; an
// address ID the profile does not have is a FieldError.
func apply(cur Profile, patch Patch) (Profile, error) {
	next := cur
	next.Addresses = slices.Clone(cur.Addresses)
	next.Skin.Concerns = slices.Clone(cur.Skin.Concerns)
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&next.DisplayName, patch.DisplayName)
	set(&next.Mobile, patch.Mobile)
	set(&next.Email, patch.Email)
	set(&next.Locale, patch.Locale)
	set(&next.ConsultantID, patch.ConsultantID)
	if patch.Birthday != nil {
		next.Birthday = *patch.Birthday
	}
	if patch.Skin != nil {
		next.Skin = SkinProfile{Type: patch.Skin.Type, Concerns: slices.Clone(patch.Skin.Concerns)}
	}
	if patch.Addresses != nil {
		existing := make(map[string]bool, len(cur.Addresses))
		for _, a := range cur.Addresses {
			existing[a.ID] = true
		}
		var p problems
		addrs := slices.Clone(*patch.Addresses)
		for i := range addrs {
			switch {
			case addrs[i].ID == "":
				id, err := newAddressID()
				if err != nil {
					return Profile{}, err
				}
				addrs[i].ID = id
			case !existing[addrs[i].ID]:
				p.add(fmt.Sprintf("addresses[%d].id", i), "names no address of this profile; leave it empty for a new address")
			}
		}
		if err := p.err(); err != nil {
			return Profile{}, err
		}
		if len(addrs) == 0 {
			addrs = nil
		}
		next.Addresses = addrs
	}
	return next, nil
}

// sameContent reports whether a and b hold the same values, timestamps
// aside.
func sameContent(a, b Profile) bool {
	return a.DisplayName == b.DisplayName && a.Mobile == b.Mobile && a.Email == b.Email &&
		a.Birthday == b.Birthday && a.Locale == b.Locale && a.ConsultantID == b.ConsultantID &&
		a.Skin.Type == b.Skin.Type && slices.Equal(a.Skin.Concerns, b.Skin.Concerns) &&
		slices.Equal(a.Addresses, b.Addresses)
}

// newAddressID returns a random address ID. Random rather than sequential,
// so an ID tells nothing about how many addresses exist or whose they are.
func newAddressID() (string, error) {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("address id: %w", err)
	}
	return "addr-" + hex.EncodeToString(b), nil
}

// AddressByID implements Store. Erased profiles have no addresses.
func (s *SQLStore) AddressByID(ctx context.Context, subject, addressID string) (Address, bool, error) {
	if err := errors.Join(checkID("subject", subject), checkID("addressId", addressID)); err != nil {
		return Address{}, false, fmt.Errorf("profile: address by id: %w", err)
	}
	rows, err := s.db.QueryContext(ctx,
		"SELECT "+addressColumns+" FROM profile_addresses WHERE id = ? AND subject = ?", addressID, subject)
	if err != nil {
		return Address{}, false, fmt.Errorf("profile: address by id: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return Address{}, false, fmt.Errorf("profile: address by id: %w", err)
		}
		return Address{}, false, nil
	}
	_, a, err := scanAddress(rows)
	if err != nil {
		return Address{}, false, fmt.Errorf("profile: address by id: %w", err)
	}
	return a, true, nil
}

// ListByConsultant implements Store. The count and the page are read in one
// transaction, so TotalCount agrees with the page.
func (s *SQLStore) ListByConsultant(ctx context.Context, consultantID string, first int, afterSubject string) (Page, error) {
	var p problems
	if err := checkID("consultantId", consultantID); err != nil {
		p = append(p, err)
	}
	if first < 1 {
		p.add("first", "must be at least 1")
	}
	if afterSubject != "" {
		if err := checkID("after", afterSubject); err != nil {
			p = append(p, err)
		}
	}
	if err := p.err(); err != nil {
		return Page{}, fmt.Errorf("profile: list by consultant: %w", err)
	}
	const where = " FROM profile_profiles WHERE consultant_id = ? AND erased_at IS NULL"
	var page Page
	err := s.db.ReadTx(ctx, func(tx *db.Tx) error {
		query := "SELECT " + profileColumns + where
		args := []any{consultantID}
		if afterSubject != "" {
			query += " AND subject > ?"
			args = append(args, afterSubject)
		}
		// One row more than the page tells whether another page
		// follows; int64 keeps first+1 from overflowing.
		query += " ORDER BY subject LIMIT ?"
		args = append(args, int64(first)+1)
		profiles, err := selectProfiles(ctx, tx, query, args)
		if err != nil {
			return err
		}
		if len(profiles) > first {
			page.HasNextPage = true
			profiles = profiles[:first]
		}
		subjects := make([]string, len(profiles))
		for i, pr := range profiles {
			subjects[i] = pr.Subject
		}
		addrs, err := selectAddresses(ctx, tx, subjects)
		if err != nil {
			return err
		}
		for i := range profiles {
			profiles[i].Addresses = addrs[profiles[i].Subject]
		}
		page.Profiles = profiles
		if afterSubject == "" && !page.HasNextPage {
			page.TotalCount = len(profiles)
			return nil
		}
		var total int64
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*)"+where, consultantID).Scan(&total); err != nil {
			return fmt.Errorf("count: %w", err)
		}
		page.TotalCount = int(total)
		return nil
	})
	if err != nil {
		return Page{}, fmt.Errorf("profile: list by consultant: %w", err)
	}
	return page, nil
}

// Erase implements Store, in one transaction.
//
// The values leave the tables at once. Below SQL, on SQLite every write of
// this store runs with secure_delete, so the file's free space keeps no
// erased or replaced value, and the WAL's older page images are gone after
// the next checkpoint; on PostgreSQL old row versions stay in the table
// files until VACUUM (autovacuum) reclaims them. Neither engine lets SQL
// read them.
func (s *SQLStore) Erase(ctx context.Context, subject string) (bool, error) {
	if err := checkID("subject", subject); err != nil {
		return false, fmt.Errorf("profile: erase: %w", err)
	}
	now := s.db.Dialect().TimeArg(s.now())
	var erased bool
	err := s.writeTx(ctx, func(tx *db.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM profile_addresses WHERE subject = ?", subject); err != nil {
			return fmt.Errorf("delete addresses: %w", err)
		}
		res, err := tx.ExecContext(ctx, `UPDATE profile_profiles SET
	display_name = NULL, mobile = NULL, email = NULL, birthday = NULL, locale = NULL,
	skin_type = NULL, skin_concerns = NULL, updated_at = ?, erased_at = ?
WHERE subject = ? AND erased_at IS NULL`, now, now, subject)
		if err != nil {
			return fmt.Errorf("erase profile: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("erase profile: %w", err)
		}
		erased = n > 0
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("profile: erase: %w", err)
	}
	return erased, nil
}

// writeTx runs fn in a write transaction. On SQLite it turns on
// secure_delete for the transaction, so that the space a replaced or
// erased value occupied is overwritten with zeros rather than freed with
// the value still in it: SQLite otherwise leaves deleted data in the file
// until the page is reused.
func (s *SQLStore) writeTx(ctx context.Context, fn func(*db.Tx) error) error {
	return s.db.WriteTx(ctx, func(tx *db.Tx) (err error) {
		if tx.Dialect() == db.SQLite {
			restore, serr := secureDelete(ctx, tx)
			if serr != nil {
				return serr
			}
			defer func() { err = errors.Join(err, restore()) }()
		}
		return fn(tx)
	})
}

// secureDelete turns SQLite's secure_delete on for tx's connection and
// returns a function that restores the previous setting. The setting is
// per connection, and the connection goes back to the shared pool, so it
// is restored rather than left on.
func secureDelete(ctx context.Context, tx *db.Tx) (restore func() error, err error) {
	var prev int64
	if err := tx.QueryRowContext(ctx, "PRAGMA secure_delete").Scan(&prev); err != nil {
		return nil, fmt.Errorf("read secure_delete: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "PRAGMA secure_delete = 1"); err != nil {
		return nil, fmt.Errorf("set secure_delete: %w", err)
	}
	return func() error {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA secure_delete = %d", prev)); err != nil {
			return fmt.Errorf("restore secure_delete: %w", err)
		}
		return nil
	}, nil
}

// Count implements Store.
func (s *SQLStore) Count(ctx context.Context) (int, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM profile_profiles").Scan(&n); err != nil {
		return 0, fmt.Errorf("profile: count: %w", err)
	}
	return int(n), nil
}

// selectProfile reads subject's row, tombstone or not, without addresses;
// with forUpdate it also locks the row on PostgreSQL.
func selectProfile(ctx context.Context, tx *db.Tx, subject string, forUpdate bool) (p Profile, erased, found bool, err error) {
	query := "SELECT " + profileColumns + " FROM profile_profiles WHERE subject = ?"
	if forUpdate && tx.Dialect() == db.Postgres {
		query += " FOR UPDATE"
	}
	rows, err := tx.QueryContext(ctx, query, subject)
	if err != nil {
		return Profile{}, false, false, fmt.Errorf("select profile: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return Profile{}, false, false, fmt.Errorf("select profile: %w", err)
		}
		return Profile{}, false, false, nil
	}
	p, erased, err = scanProfile(rows)
	if err != nil {
		return Profile{}, false, false, fmt.Errorf("select profile: %w", err)
	}
	return p, erased, true, nil
}

// selectProfiles runs a SELECT of profileColumns and returns the live
// profiles in row order, without addresses.
func selectProfiles(ctx context.Context, tx *db.Tx, query string, args []any) ([]Profile, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("select profiles: %w", err)
	}
	defer rows.Close()
	var out []Profile
	for rows.Next() {
		p, erased, err := scanProfile(rows)
		if err != nil {
			return nil, fmt.Errorf("select profiles: %w", err)
		}
		if !erased {
			out = append(out, p)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select profiles: %w", err)
	}
	return out, nil
}

func scanProfile(rows *sql.Rows) (Profile, bool, error) {
	var p Profile
	var name, mobile, email, locale, skinType, concerns, consultant sql.NullString
	var birthday dateColumn
	var created, updated db.Timestamp
	var erasedAt sql.Null[db.Timestamp]
	if err := rows.Scan(&p.Subject, &name, &mobile, &email, &birthday, &locale, &skinType, &concerns,
		&consultant, &created, &updated, &erasedAt); err != nil {
		return Profile{}, false, err
	}
	p.DisplayName, p.Mobile, p.Email, p.Locale = name.String, mobile.String, email.String, locale.String
	p.Birthday = birthday.Date
	p.Skin.Type = SkinType(skinType.String)
	if concerns.String != "" {
		for c := range strings.SplitSeq(concerns.String, ",") {
			p.Skin.Concerns = append(p.Skin.Concerns, SkinConcern(c))
		}
	}
	p.ConsultantID = consultant.String
	p.CreatedAt, p.UpdatedAt = created.Time, updated.Time
	return p, erasedAt.Valid, nil
}

// updateProfile writes every column of p's row; empty values are stored as
// NULL.
func updateProfile(ctx context.Context, tx *db.Tx, p Profile) error {
	d := tx.Dialect()
	concerns := make([]string, len(p.Skin.Concerns))
	for i, c := range p.Skin.Concerns {
		concerns[i] = string(c)
	}
	var birthday any
	if !p.Birthday.IsZero() {
		birthday = p.Birthday.String()
		if d == db.Postgres {
			birthday = time.Date(p.Birthday.Year, p.Birthday.Month, p.Birthday.Day, 0, 0, 0, 0, time.UTC)
		}
	}
	_, err := tx.ExecContext(ctx, `UPDATE profile_profiles SET
	display_name = ?, mobile = ?, email = ?, birthday = ?, locale = ?, skin_type = ?, skin_concerns = ?,
	consultant_id = ?, created_at = ?, updated_at = ?, erased_at = NULL
WHERE subject = ?`,
		nullString(p.DisplayName), nullString(p.Mobile), nullString(p.Email), birthday, nullString(p.Locale),
		nullString(string(p.Skin.Type)), nullString(strings.Join(concerns, ",")), nullString(p.ConsultantID),
		d.TimeArg(p.CreatedAt), d.TimeArg(p.UpdatedAt), p.Subject)
	if err != nil {
		return fmt.Errorf("update profile: %w", err)
	}
	return nil
}

// replaceAddresses makes addrs, in order, the addresses of subject.
// Deleting first lets kept addresses move positions without tripping the
// (subject, position) uniqueness.
func replaceAddresses(ctx context.Context, tx *db.Tx, subject string, addrs []Address) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM profile_addresses WHERE subject = ?", subject); err != nil {
		return fmt.Errorf("delete addresses: %w", err)
	}
	for i, a := range addrs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO profile_addresses
	(id, subject, position, recipient_name, recipient_mobile, province, city, district, line1, line2, postal_code, is_default)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ID, subject, i, a.RecipientName, a.RecipientMobile, a.Province, a.City, a.District,
			a.Line1, a.Line2, a.PostalCode, a.IsDefault); err != nil {
			return fmt.Errorf("insert address: %w", err)
		}
	}
	return nil
}

// selectAddresses returns the addresses of subjects by subject, each list
// in position order, querying maxIDsPerQuery subjects at a time.
func selectAddresses(ctx context.Context, tx *db.Tx, subjects []string) (map[string][]Address, error) {
	out := make(map[string][]Address, len(subjects))
	for batch := range slices.Chunk(subjects, maxIDsPerQuery) {
		args := make([]any, len(batch))
		for i, s := range batch {
			args[i] = s
		}
		rows, err := tx.QueryContext(ctx, "SELECT "+addressColumns+" FROM profile_addresses WHERE subject IN ("+
			placeholders(len(batch))+") ORDER BY subject, position", args...)
		if err != nil {
			return nil, fmt.Errorf("select addresses: %w", err)
		}
		for rows.Next() {
			subject, a, err := scanAddress(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("select addresses: %w", err)
			}
			out[subject] = append(out[subject], a)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("select addresses: %w", err)
		}
	}
	return out, nil
}

func scanAddress(rows *sql.Rows) (string, Address, error) {
	var subject string
	var a Address
	err := rows.Scan(&subject, &a.ID, &a.RecipientName, &a.RecipientMobile, &a.Province, &a.City, &a.District,
		&a.Line1, &a.Line2, &a.PostalCode, &a.IsDefault)
	return subject, a, err
}

// dateColumn scans a birthday column: NULL, a PostgreSQL DATE (a time.Time
// at midnight UTC) or SQLite YYYY-MM-DD text.
type dateColumn struct{ Date Date }

// Scan implements sql.Scanner.
func (d *dateColumn) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		d.Date = Date{}
		return nil
	case time.Time:
		d.Date = DateOf(v.UTC())
		return nil
	case string:
		return d.parse(v)
	case []byte:
		return d.parse(string(v))
	default:
		return fmt.Errorf("scan date: unsupported type %T", src)
	}
}

func (d *dateColumn) parse(s string) error {
	parsed, err := ParseDate(s)
	if err != nil {
		return fmt.Errorf("scan date: %w", err)
	}
	d.Date = parsed
	return nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
