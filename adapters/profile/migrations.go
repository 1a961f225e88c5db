package profile

import "meridian/internal/db"

// migrationComponent is the profile store's name in schema_migrations; its
// tables and indexes are prefixed "profile_" for the same reason.
const migrationComponent = "profile"

// migrations returns the profile store's schema history. Released versions
// are never edited; changes are appended as new versions.
//
// Layout:
//   - profile_profiles: one row per subject. Every personal column is
//     nullable, NULL meaning not stated; skin_concerns is the concerns
//     joined with commas (their names hold none). A CHECK constraint keeps
//     tombstones (erased_at set) free of every personal column, so no code
//     path can erase half a profile. birthday is a DATE on PostgreSQL and
//     YYYY-MM-DD text on SQLite. Subjects and IDs use the "C" collation on
//     PostgreSQL so ORDER BY and > compare bytes, as on SQLite.
//   - profile_addresses: one row per address, ordered within a profile by
//     position. is_default is BOOLEAN on PostgreSQL and 0/1 on SQLite.
//
// The consultant index is partial (live profiles only) because dashboards
// list live profiles only and tombstones would otherwise accumulate in it.
func migrations() []db.Migration {
	return []db.Migration{
		{
			Version: 1,
			Name:    "create profile tables",
			SQLite: `
CREATE TABLE profile_profiles (
	subject       TEXT NOT NULL PRIMARY KEY,
	display_name  TEXT,
	mobile        TEXT,
	email         TEXT,
	birthday      TEXT,
	locale        TEXT,
	skin_type     TEXT,
	skin_concerns TEXT,
	consultant_id TEXT,
	created_at    TEXT NOT NULL,
	updated_at    TEXT NOT NULL,
	erased_at     TEXT,
	CONSTRAINT profile_profiles_tombstone_empty CHECK (erased_at IS NULL OR (
		display_name IS NULL AND mobile IS NULL AND email IS NULL AND birthday IS NULL AND
		locale IS NULL AND skin_type IS NULL AND skin_concerns IS NULL))
);
CREATE INDEX profile_profiles_consultant_idx ON profile_profiles (consultant_id, subject) WHERE erased_at IS NULL;

CREATE TABLE profile_addresses (
	id               TEXT    NOT NULL PRIMARY KEY,
	subject          TEXT    NOT NULL REFERENCES profile_profiles (subject) ON DELETE CASCADE,
	position         INTEGER NOT NULL,
	recipient_name   TEXT    NOT NULL,
	recipient_mobile TEXT    NOT NULL,
	province         TEXT    NOT NULL,
	city             TEXT    NOT NULL,
	district         TEXT    NOT NULL,
	line1            TEXT    NOT NULL,
	line2            TEXT    NOT NULL,
	postal_code      TEXT    NOT NULL,
	is_default       INTEGER NOT NULL CHECK (is_default IN (0, 1)),
	UNIQUE (subject, position)
);
`,
			Postgres: `
CREATE TABLE profile_profiles (
	subject       TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	display_name  TEXT,
	mobile        TEXT,
	email         TEXT,
	birthday      DATE,
	locale        TEXT,
	skin_type     TEXT,
	skin_concerns TEXT,
	consultant_id TEXT COLLATE "C",
	created_at    TIMESTAMPTZ NOT NULL,
	updated_at    TIMESTAMPTZ NOT NULL,
	erased_at     TIMESTAMPTZ,
	CONSTRAINT profile_profiles_tombstone_empty CHECK (erased_at IS NULL OR (
		display_name IS NULL AND mobile IS NULL AND email IS NULL AND birthday IS NULL AND
		locale IS NULL AND skin_type IS NULL AND skin_concerns IS NULL))
);
CREATE INDEX profile_profiles_consultant_idx ON profile_profiles (consultant_id, subject) WHERE erased_at IS NULL;

CREATE TABLE profile_addresses (
	id               TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	subject          TEXT COLLATE "C" NOT NULL REFERENCES profile_profiles (subject) ON DELETE CASCADE,
	position         INTEGER NOT NULL,
	recipient_name   TEXT    NOT NULL,
	recipient_mobile TEXT    NOT NULL,
	province         TEXT    NOT NULL,
	city             TEXT    NOT NULL,
	district         TEXT    NOT NULL,
	line1            TEXT    NOT NULL,
	line2            TEXT    NOT NULL,
	postal_code      TEXT    NOT NULL,
	is_default       BOOLEAN NOT NULL,
	UNIQUE (subject, position)
);
`,
		},
	}
}
