package audit

import "meridian/internal/db"

// migrationComponent is the audit trail's name in schema_migrations; its
// tables, indexes, triggers and functions are prefixed "audit_" for the
// same reason.
const migrationComponent = "audit"

// migrations returns the audit trail's schema history. Released versions
// are never edited; changes are appended as new versions.
//
// audit_entries holds one row per entry. fields is a JSON array of field
// names. The (data_subject, id) index serves List; the (actor_subject, id)
// index serves Pseudonymize and questions about what one actor accessed.
// Subjects use the "C" collation on PostgreSQL so they compare as bytes, as
// on SQLite.
//
// The triggers enforce the rules in the package doc. On SQLite a
// pseudonym's shape is checked with length, substr and GLOB, because
// SQLite has no regular expressions by default; on PostgreSQL with ~. The
// SQLite insert guard compares NEW.id with existing rows: in a BEFORE
// INSERT trigger NEW.id is -1 when the id is left to AUTOINCREMENT, which
// matches nothing, so only an insert naming an existing id is refused.
func migrations() []db.Migration {
	return []db.Migration{
		{
			Version: 1,
			Name:    "create append-only audit trail",
			SQLite: `
CREATE TABLE audit_entries (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	recorded_at   TEXT NOT NULL,
	actor_subject TEXT NOT NULL,
	actor_role    TEXT NOT NULL,
	data_subject  TEXT NOT NULL,
	action        TEXT NOT NULL,
	fields        TEXT NOT NULL,
	purpose       TEXT NOT NULL,
	request_id    TEXT NOT NULL
);
CREATE INDEX audit_entries_data_subject_idx ON audit_entries (data_subject, id);
CREATE INDEX audit_entries_actor_subject_idx ON audit_entries (actor_subject, id);

CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
BEGIN
	SELECT RAISE(ABORT, 'audit_entries is append-only: DELETE is not allowed');
END;

CREATE TRIGGER audit_entries_no_replace BEFORE INSERT ON audit_entries
WHEN EXISTS (SELECT 1 FROM audit_entries WHERE id = NEW.id)
BEGIN
	SELECT RAISE(ABORT, 'audit_entries is append-only: an insert cannot replace an entry');
END;

CREATE TRIGGER audit_entries_only_pseudonymize BEFORE UPDATE ON audit_entries
WHEN NOT (
	NEW.id IS OLD.id AND NEW.recorded_at IS OLD.recorded_at AND NEW.actor_role IS OLD.actor_role AND
	NEW.action IS OLD.action AND NEW.fields IS OLD.fields AND NEW.purpose IS OLD.purpose AND
	NEW.request_id IS OLD.request_id AND
	(NEW.data_subject IS OLD.data_subject OR (
		NOT (length(OLD.data_subject) = 70 AND substr(OLD.data_subject, 1, 6) = 'pseud-' AND substr(OLD.data_subject, 7) NOT GLOB '*[^0-9a-f]*') AND
		length(NEW.data_subject) = 70 AND substr(NEW.data_subject, 1, 6) = 'pseud-' AND substr(NEW.data_subject, 7) NOT GLOB '*[^0-9a-f]*')) AND
	(NEW.actor_subject IS OLD.actor_subject OR (
		NOT (length(OLD.actor_subject) = 70 AND substr(OLD.actor_subject, 1, 6) = 'pseud-' AND substr(OLD.actor_subject, 7) NOT GLOB '*[^0-9a-f]*') AND
		length(NEW.actor_subject) = 70 AND substr(NEW.actor_subject, 1, 6) = 'pseud-' AND substr(NEW.actor_subject, 7) NOT GLOB '*[^0-9a-f]*'))
)
BEGIN
	SELECT RAISE(ABORT, 'audit_entries is append-only: the only UPDATE allowed replaces a subject with its pseudonym');
END;
`,
			Postgres: `
CREATE TABLE audit_entries (
	id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	recorded_at   TIMESTAMPTZ      NOT NULL,
	actor_subject TEXT COLLATE "C" NOT NULL,
	actor_role    TEXT             NOT NULL,
	data_subject  TEXT COLLATE "C" NOT NULL,
	action        TEXT             NOT NULL,
	fields        TEXT             NOT NULL,
	purpose       TEXT             NOT NULL,
	request_id    TEXT             NOT NULL
);
CREATE INDEX audit_entries_data_subject_idx ON audit_entries (data_subject, id);
CREATE INDEX audit_entries_actor_subject_idx ON audit_entries (actor_subject, id);

CREATE FUNCTION audit_entries_guard() RETURNS trigger LANGUAGE plpgsql AS $guard$
BEGIN
	-- Nested IFs: in the TRUNCATE (statement-level) case NEW and OLD
	-- are not rows and must not be read.
	IF TG_OP = 'UPDATE' THEN
		IF NEW.id IS NOT DISTINCT FROM OLD.id
			AND NEW.recorded_at IS NOT DISTINCT FROM OLD.recorded_at
			AND NEW.actor_role IS NOT DISTINCT FROM OLD.actor_role
			AND NEW.action IS NOT DISTINCT FROM OLD.action
			AND NEW.fields IS NOT DISTINCT FROM OLD.fields
			AND NEW.purpose IS NOT DISTINCT FROM OLD.purpose
			AND NEW.request_id IS NOT DISTINCT FROM OLD.request_id
			AND (NEW.data_subject IS NOT DISTINCT FROM OLD.data_subject
				OR (OLD.data_subject !~ '^pseud-[0-9a-f]{64}$' AND NEW.data_subject ~ '^pseud-[0-9a-f]{64}$'))
			AND (NEW.actor_subject IS NOT DISTINCT FROM OLD.actor_subject
				OR (OLD.actor_subject !~ '^pseud-[0-9a-f]{64}$' AND NEW.actor_subject ~ '^pseud-[0-9a-f]{64}$'))
		THEN
			RETURN NEW;
		END IF;
		RAISE EXCEPTION 'audit_entries is append-only: the only UPDATE allowed replaces a subject with its pseudonym'
			USING ERRCODE = 'integrity_constraint_violation';
	END IF;
	RAISE EXCEPTION 'audit_entries is append-only: % is not allowed', TG_OP
		USING ERRCODE = 'integrity_constraint_violation';
END;
$guard$;

CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
	FOR EACH ROW EXECUTE FUNCTION audit_entries_guard();
CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries
	FOR EACH STATEMENT EXECUTE FUNCTION audit_entries_guard();
`,
		},
	}
}
