package content

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"meridian/internal/db"
)

// migrationComponent is the content mirror's name in schema_migrations; its
// tables are prefixed "content_" for the same reason.
const migrationComponent = "content"

// maxSlugsPerStatement bounds the IN lists and multi-row INSERTs the store
// sends, well under the bind parameter limits of both engines.
const maxSlugsPerStatement = 500

// pageColumns is the number of values one page row binds.
const pageColumns = 7

// migrations returns the content mirror's schema history. Released versions
// are never edited; changes are appended as new versions.
//
// content_pages holds one row per page. The localized texts and the images
// are JSON objects read whole with the row: pages are read one at a time by
// slug and never searched by text, so a row per locale would buy nothing.
// Slugs use the "C" collation on PostgreSQL so that ORDER BY slug compares
// bytes, as on SQLite.
func migrations() []db.Migration {
	return []db.Migration{
		{
			Version: 1,
			Name:    "create content pages",
			SQLite: `
CREATE TABLE content_pages (
	slug              TEXT NOT NULL PRIMARY KEY,
	title_json        TEXT NOT NULL,
	summary_json      TEXT NOT NULL,
	body_json         TEXT NOT NULL,
	images_json       TEXT NOT NULL,
	source_updated_at TEXT NOT NULL,
	mirrored_at       TEXT NOT NULL
);
`,
			Postgres: `
CREATE TABLE content_pages (
	slug              TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	title_json        JSONB       NOT NULL,
	summary_json      JSONB       NOT NULL,
	body_json         JSONB       NOT NULL,
	images_json       JSONB       NOT NULL,
	source_updated_at TIMESTAMPTZ NOT NULL,
	mirrored_at       TIMESTAMPTZ NOT NULL
);
`,
		},
	}
}

// SQLStore is the Store on Meridian's SQL database, SQLite or PostgreSQL. It
// is safe for concurrent use. Every method runs as one statement or one
// transaction, so readers never see half of a write.
type SQLStore struct {
	db *db.DB
}

var _ Store = (*SQLStore)(nil)

// NewSQLStore brings the content tables in database up to date (see
// db.Migrate; the component is "content") and returns a store on them. It
// may wait for another replica that is migrating the same database, bounded
// by ctx. The caller keeps ownership of database and closes it after the
// store's last use; a nil database is an error.
func NewSQLStore(ctx context.Context, database *db.DB) (*SQLStore, error) {
	if database == nil {
		return nil, errors.New("content: new store: database is nil")
	}
	if err := db.Migrate(ctx, database, migrationComponent, migrations()); err != nil {
		return nil, fmt.Errorf("content: %w", err)
	}
	return &SQLStore{db: database}, nil
}

// Page implements Store. Title, Summary and Body of a page found are never
// nil, nor is Images; an image's Alt is nil when it has none. Both
// timestamps are in UTC.
func (s *SQLStore) Page(ctx context.Context, slug string) (Page, bool, error) {
	if slug == "" {
		return Page{}, false, nil
	}
	row := s.db.QueryRowContext(ctx,
		"SELECT slug, title_json, summary_json, body_json, images_json, source_updated_at, mirrored_at FROM content_pages WHERE slug = ?", slug)
	var p Page
	var title, summary, body, images []byte
	var source, mirrored db.Timestamp
	err := row.Scan(&p.Slug, &title, &summary, &body, &images, &source, &mirrored)
	if errors.Is(err, sql.ErrNoRows) {
		return Page{}, false, nil
	}
	if err != nil {
		return Page{}, false, fmt.Errorf("content: page %q: %w", slug, err)
	}
	for _, f := range []struct {
		name string
		raw  []byte
		into *LocalizedText
	}{{"title", title, &p.Title}, {"summary", summary, &p.Summary}, {"body", body, &p.Body}} {
		if err := json.Unmarshal(f.raw, f.into); err != nil {
			return Page{}, false, fmt.Errorf("content: page %q: %s: %w", slug, f.name, err)
		}
		if *f.into == nil {
			*f.into = LocalizedText{}
		}
	}
	if err := json.Unmarshal(images, &p.Images); err != nil {
		return Page{}, false, fmt.Errorf("content: page %q: images: %w", slug, err)
	}
	if p.Images == nil {
		p.Images = []Image{}
	}
	p.UpdatedAt, p.MirroredAt = source.Time, mirrored.Time
	return p, true, nil
}

// UpsertPages implements Store. Each page replaces the stored page with its
// slug whole: a locale absent from the new texts is gone afterwards. The
// batch fails as a whole, writing nothing, with an error wrapping
// ErrInvalidPage when a page has no slug, a zero UpdatedAt, an empty locale
// key or an image without a URL, or when two pages share a slug. An empty
// batch is a no-op. Timestamps are stored in UTC at microsecond precision.
func (s *SQLStore) UpsertPages(ctx context.Context, pages []Page, mirroredAt time.Time) error {
	if len(pages) == 0 {
		return nil
	}
	d := s.db.Dialect()
	at := d.TimeArg(mirroredAt)
	seen := make(map[string]bool, len(pages))
	rows := make([][]any, 0, len(pages))
	for i, p := range pages {
		if err := checkPage(p); err != nil {
			return fmt.Errorf("content: upsert pages: %w: page #%d %q: %v", ErrInvalidPage, i, p.Slug, err)
		}
		if seen[p.Slug] {
			return fmt.Errorf("content: upsert pages: %w: page %q appears twice", ErrInvalidPage, p.Slug)
		}
		seen[p.Slug] = true
		row := []any{p.Slug}
		for _, v := range []any{texts(p.Title), texts(p.Summary), texts(p.Body), images(p.Images)} {
			raw, err := json.Marshal(v)
			if err != nil {
				return fmt.Errorf("content: upsert pages: page %q: %w", p.Slug, err)
			}
			row = append(row, string(raw))
		}
		rows = append(rows, append(row, d.TimeArg(p.UpdatedAt), at))
	}
	err := s.db.WriteTx(ctx, func(tx *db.Tx) error {
		tuple := "(" + placeholders(pageColumns) + ")"
		for batch := range slices.Chunk(rows, maxSlugsPerStatement/pageColumns) {
			var b strings.Builder
			b.WriteString("INSERT INTO content_pages (slug, title_json, summary_json, body_json, images_json, source_updated_at, mirrored_at) VALUES ")
			args := make([]any, 0, len(batch)*pageColumns)
			for i, row := range batch {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(tuple)
				args = append(args, row...)
			}
			b.WriteString(" ON CONFLICT (slug) DO UPDATE SET title_json = excluded.title_json, summary_json = excluded.summary_json," +
				" body_json = excluded.body_json, images_json = excluded.images_json," +
				" source_updated_at = excluded.source_updated_at, mirrored_at = excluded.mirrored_at" +
				" WHERE excluded.source_updated_at >= content_pages.source_updated_at")
			if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("content: upsert pages: %w", err)
	}
	return nil
}

// DeletePages implements Store, in one transaction. Empty and repeated
// slugs are ignored.
func (s *SQLStore) DeletePages(ctx context.Context, slugs []string) error {
	slugs = uniqueNonEmpty(slugs)
	if len(slugs) == 0 {
		return nil
	}
	err := s.db.WriteTx(ctx, func(tx *db.Tx) error {
		for batch := range slices.Chunk(slugs, maxSlugsPerStatement) {
			args := make([]any, len(batch))
			for i, slug := range batch {
				args[i] = slug
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM content_pages WHERE slug IN ("+placeholders(len(batch))+")", args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("content: delete pages: %w", err)
	}
	return nil
}

// Slugs implements Store, in byte order on both engines.
func (s *SQLStore) Slugs(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT slug FROM content_pages ORDER BY slug")
	if err != nil {
		return nil, fmt.Errorf("content: slugs: %w", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var slug string
		if err := rows.Scan(&slug); err != nil {
			return nil, fmt.Errorf("content: slugs: %w", err)
		}
		out = append(out, slug)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("content: slugs: %w", err)
	}
	return out, nil
}

// Count implements Store.
func (s *SQLStore) Count(ctx context.Context) (int, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM content_pages").Scan(&n); err != nil {
		return 0, fmt.Errorf("content: count: %w", err)
	}
	return int(n), nil
}

// checkPage reports what makes p unstorable, apart from batch duplicates.
func checkPage(p Page) error {
	switch {
	case p.Slug == "":
		return errors.New("no slug")
	case p.UpdatedAt.IsZero():
		return errors.New("no source updatedAt")
	}
	for _, t := range []LocalizedText{p.Title, p.Summary, p.Body} {
		if _, ok := t[""]; ok {
			return errors.New("text with an empty locale key")
		}
	}
	for i, im := range p.Images {
		if im.URL == "" {
			return fmt.Errorf("image %d has no URL", i)
		}
		if _, ok := im.Alt[""]; ok {
			return fmt.Errorf("image %d: alt text with an empty locale key", i)
		}
	}
	return nil
}

// texts stores a missing text as {} rather than null, so every row reads
// back the same whichever engine wrote it.
func texts(t LocalizedText) LocalizedText {
	if t == nil {
		return LocalizedText{}
	}
	return t
}

// images stores no images as [] rather than null, for the same reason.
func images(ims []Image) []Image {
	if ims == nil {
		return []Image{}
	}
	out := make([]Image, len(ims))
	for i, im := range ims {
		if len(im.Alt) == 0 {
			im.Alt = nil // omitted, and read back as nil
		}
		out[i] = im
	}
	return out
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func uniqueNonEmpty(ss []string) []string {
	seen := make(map[string]bool, len(ss))
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
