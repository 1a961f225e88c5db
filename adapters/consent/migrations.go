package consent

import "meridian/internal/db"

// migrationComponent is the consent store's name in schema_migrations; its
// tables and indexes are prefixed "consent_" for the same reason.
const migrationComponent = "consent"

// migrations returns the consent store's schema history. Released versions
// are never edited; changes are appended as new versions.
//
// consent_changes holds every version ever recorded. id orders the history
// as it was written. The unique (subject, purpose, version) key is also the
// index every read uses: the current state of a purpose is the first entry
// of a backward scan of it, so Granted is one index seek however long the
// history grows. granted is BOOLEAN on PostgreSQL and 0/1 on SQLite.
// Subjects use the "C" collation on PostgreSQL so they compare as bytes, as
// on SQLite. purpose is deliberately not checked against a list in SQL:
// adding a purpose is then a code change, not a table rebuild on SQLite.
func migrations() []db.Migration {
	return []db.Migration{
		{
			Version: 1,
			Name:    "create consent history",
			SQLite: `
CREATE TABLE consent_changes (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	subject        TEXT    NOT NULL,
	purpose        TEXT    NOT NULL,
	version        INTEGER NOT NULL CHECK (version >= 1),
	granted        INTEGER NOT NULL CHECK (granted IN (0, 1)),
	policy_version TEXT    NOT NULL,
	changed_by     TEXT    NOT NULL,
	request_id     TEXT    NOT NULL,
	changed_at     TEXT    NOT NULL,
	CONSTRAINT consent_changes_version_key UNIQUE (subject, purpose, version)
);
`,
			Postgres: `
CREATE TABLE consent_changes (
	id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	subject        TEXT COLLATE "C" NOT NULL,
	purpose        TEXT        NOT NULL,
	version        INTEGER     NOT NULL CHECK (version >= 1),
	granted        BOOLEAN     NOT NULL,
	policy_version TEXT        NOT NULL,
	changed_by     TEXT        NOT NULL,
	request_id     TEXT        NOT NULL,
	changed_at     TIMESTAMPTZ NOT NULL,
	CONSTRAINT consent_changes_version_key UNIQUE (subject, purpose, version)
);
`,
		},
	}
}
