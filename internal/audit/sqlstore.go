package audit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"meridian/internal/db"
)

// MinKeyBytes is the shortest pseudonym key accepted: the output size of
// SHA-256, below which HMAC-SHA256 is weaker than it needs to be.
const MinKeyBytes = 32

// pseudonymDomain separates this use of the key from any other: the same
// key given to another HMAC by mistake yields unrelated values.
const pseudonymDomain = "meridian/audit/subject\x00"

// entryColumns is what scanEntry reads, in order.
const entryColumns = `id, recorded_at, actor_subject, actor_role, data_subject, action, fields, purpose, request_id`

// insertWidth is the number of columns Append writes per entry, and
// rowsPerInsert how many entries go into one INSERT, well under the bind
// parameter limits of both engines.
const (
	insertWidth   = 8
	rowsPerInsert = 100
)

// Config configures a SQLStore.
type Config struct {
	// PseudonymKey is the secret HMAC-SHA256 key of pseudonyms, at least
	// MinKeyBytes long. It must be the same on every replica and across
	// releases, and kept out of logs; NewSQLStore keeps its own copy.
	PseudonymKey []byte
	// Now is the clock that stamps entries; nil means time.Now.
	Now func() time.Time
}

// SQLStore is the Store on Meridian's SQL database, SQLite or PostgreSQL. It
// is safe for concurrent use.
type SQLStore struct {
	db  *db.DB
	key []byte
	now func() time.Time
}

var _ Store = (*SQLStore)(nil)

// NewSQLStore brings the audit table in database up to date (see
// db.Migrate; the component is "audit") and returns a store on it. It may
// wait for another replica that is migrating the same database, bounded by
// ctx. It fails without touching the database when database is nil or the
// key is shorter than MinKeyBytes. The caller keeps ownership of database.
func NewSQLStore(ctx context.Context, database *db.DB, cfg Config) (*SQLStore, error) {
	if database == nil {
		return nil, errors.New("audit: new store: nil database")
	}
	if len(cfg.PseudonymKey) < MinKeyBytes {
		return nil, fmt.Errorf("audit: new store: pseudonym key must be at least %d bytes", MinKeyBytes)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	if err := db.Migrate(ctx, database, migrationComponent, migrations()); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return &SQLStore{db: database, key: slices.Clone(cfg.PseudonymKey), now: now}, nil
}

// Pseudonym returns the pseudonym Pseudonymize gives subject: PseudonymPrefix
// and the lowercase hexadecimal HMAC-SHA256, under the store's key, of
// subject. The same subject always gets the same pseudonym under one key.
func (s *SQLStore) Pseudonym(subject string) string {
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(pseudonymDomain))
	mac.Write([]byte(subject))
	return PseudonymPrefix + hex.EncodeToString(mac.Sum(nil))
}

// Append implements Store.
func (s *SQLStore) Append(ctx context.Context, entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	errs := make([]error, 0, len(entries))
	for i, e := range entries {
		errs = append(errs, checkEntry(i, e))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("audit: append: %w", err)
	}
	at := s.db.Dialect().TimeArg(s.now())
	rows := make([][]any, 0, len(entries))
	for _, e := range entries {
		fields := e.Fields
		if fields == nil {
			fields = []string{}
		}
		fieldsJSON, err := json.Marshal(fields)
		if err != nil {
			return fmt.Errorf("audit: append: fields: %w", err)
		}
		rows = append(rows, []any{at, e.ActorSubject, e.ActorRole, e.DataSubject, string(e.Action),
			string(fieldsJSON), e.Purpose, e.RequestID})
	}
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?, ", insertWidth), ", ") + ")"
	err := s.db.WriteTx(ctx, func(tx *db.Tx) error {
		for batch := range slices.Chunk(rows, rowsPerInsert) {
			var b strings.Builder
			b.WriteString("INSERT INTO audit_entries (recorded_at, actor_subject, actor_role, data_subject, action, fields, purpose, request_id) VALUES ")
			args := make([]any, 0, len(batch)*insertWidth)
			for i, row := range batch {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(tuple)
				args = append(args, row...)
			}
			if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
				return fmt.Errorf("insert: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("audit: append: %w", err)
	}
	return nil
}

// List implements Store. Paging is by ID: afterID is the ID of the last
// entry of the previous page. On PostgreSQL, appends running at the same
// time take IDs in the order they insert but become visible in the order
// they commit, so an entry can appear behind a page already read; a reader
// that must see everything lists again from the newest.
func (s *SQLStore) List(ctx context.Context, dataSubject string, first int, afterID int64) (Page, error) {
	errs := []error{checkSubject("dataSubject", dataSubject)}
	if first < 1 {
		errs = append(errs, fieldError("first", "must be at least 1"))
	}
	if afterID < 0 {
		errs = append(errs, fieldError("after", "must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return Page{}, fmt.Errorf("audit: list: %w", err)
	}
	query := "SELECT " + entryColumns + " FROM audit_entries WHERE data_subject = ?"
	args := []any{dataSubject}
	if afterID > 0 {
		query += " AND id < ?"
		args = append(args, afterID)
	}
	// One row more than the page tells whether another page follows;
	// int64 keeps first+1 from overflowing.
	query += " ORDER BY id DESC LIMIT ?"
	args = append(args, int64(first)+1)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return Page{}, fmt.Errorf("audit: list: %w", err)
	}
	defer rows.Close()
	var page Page
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return Page{}, fmt.Errorf("audit: list: %w", err)
		}
		page.Entries = append(page.Entries, e)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("audit: list: %w", err)
	}
	if len(page.Entries) > first {
		page.HasNextPage = true
		page.Entries = page.Entries[:first]
	}
	return page, nil
}

// Pseudonymize implements Store with one UPDATE, the only kind the
// database's triggers let through.
func (s *SQLStore) Pseudonymize(ctx context.Context, subject string) (int, error) {
	if err := checkSubject("subject", subject); err != nil {
		return 0, fmt.Errorf("audit: pseudonymize: %w", err)
	}
	if IsPseudonym(subject) {
		return 0, fmt.Errorf("audit: pseudonymize: %w", fieldError("subject", "is already a pseudonym"))
	}
	pseudonym := s.Pseudonym(subject)
	res, err := s.db.ExecContext(ctx, `UPDATE audit_entries SET
	data_subject = CASE WHEN data_subject = ? THEN ? ELSE data_subject END,
	actor_subject = CASE WHEN actor_subject = ? THEN ? ELSE actor_subject END
WHERE data_subject = ? OR actor_subject = ?`,
		subject, pseudonym, subject, pseudonym, subject, subject)
	if err != nil {
		return 0, fmt.Errorf("audit: pseudonymize: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("audit: pseudonymize: %w", err)
	}
	return int(n), nil
}

func scanEntry(rows *sql.Rows) (Entry, error) {
	var e Entry
	var at db.Timestamp
	var action, fields string
	if err := rows.Scan(&e.ID, &at, &e.ActorSubject, &e.ActorRole, &e.DataSubject, &action, &fields, &e.Purpose, &e.RequestID); err != nil {
		return Entry{}, err
	}
	e.At, e.Action = at.Time, Action(action)
	if err := json.Unmarshal([]byte(fields), &e.Fields); err != nil {
		return Entry{}, fmt.Errorf("entry %d: fields: %w", e.ID, err)
	}
	if len(e.Fields) == 0 {
		e.Fields = nil
	}
	return e, nil
}
