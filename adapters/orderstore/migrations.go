package orderstore

import "meridian/internal/db"

// migrationComponent is the order store's name in schema_migrations; its
// tables and indexes are prefixed "orders_" for the same reason.
const migrationComponent = "orders"

// migrations returns the order store's schema history. Released versions
// are never edited; changes are appended as new versions.
//
// Layout:
//   - orders_orders: one row per order, the projection dashboards read.
//     Money is decimal text (never a float column), and since version 2
//     integer minor units as well, which SQL sums exactly; timestamps
//     TIMESTAMPTZ on PostgreSQL and fixed-width UTC text on SQLite. The
//     lines carry both forms of their totals too. status_checked_at
//     is when Order Management last told the region the order's status
//     (an answer, a webhook or a poll), which drives the polling safety
//     net. Ids use the "C" collation on PostgreSQL so that ORDER BY and <
//     compare bytes, as on SQLite: ULIDs sort by time only byte-wise.
//   - orders_lines: the lines, by position.
//   - orders_history: each status an order reached, once: the primary key
//     (order_id, status) makes a duplicate impossible whatever the race.
//   - orders_idempotency: (placed_by, idem_key) → order. Its foreign key is
//     deferred to commit, because Place claims the key before it creates
//     the order: the claim is what makes concurrent retries wait for the
//     first.
//   - orders_outbox: one "create" command per order; dead letters stay.
//
// Indexes serve the reads at 100,000+ orders: a customer's orders newest
// first (subject, id); a consultant's, with or without a status filter
// (consultant_id, id) and (consultant_id, status, id); the claim's scan of
// due entries and the dead letters (partial, on pending and dead entries
// only, so sent entries, the vast majority, cost nothing); the polling net's
// in-flight orders (partial, on ACCEPTED and CONFIRMED orders only); the
// purge's scan by age; the dashboards' analytics (version 2).
func migrations() []db.Migration {
	return []db.Migration{
		{
			Version: 1,
			Name:    "create order tables",
			SQLite: `
CREATE TABLE orders_orders (
	id                  TEXT NOT NULL PRIMARY KEY,
	subject             TEXT NOT NULL,
	consultant_id       TEXT,
	placed_by           TEXT NOT NULL,
	currency            TEXT NOT NULL,
	total               TEXT NOT NULL,
	shipping_address_id TEXT NOT NULL,
	note                TEXT NOT NULL,
	status              TEXT NOT NULL CHECK (status IN ('PENDING', 'ACCEPTED', 'CONFIRMED', 'SHIPPED', 'REJECTED')),
	reject_reason       TEXT NOT NULL,
	global_order_id     TEXT UNIQUE,
	created_at          TEXT NOT NULL,
	updated_at          TEXT NOT NULL,
	status_checked_at   TEXT
);
CREATE INDEX orders_orders_subject_idx ON orders_orders (subject, id);
CREATE INDEX orders_orders_consultant_idx ON orders_orders (consultant_id, id) WHERE consultant_id IS NOT NULL;
CREATE INDEX orders_orders_consultant_status_idx ON orders_orders (consultant_id, status, id) WHERE consultant_id IS NOT NULL;
CREATE INDEX orders_orders_in_flight_idx ON orders_orders (status_checked_at, id)
	WHERE status IN ('ACCEPTED', 'CONFIRMED') AND global_order_id IS NOT NULL;

CREATE TABLE orders_lines (
	order_id   TEXT    NOT NULL REFERENCES orders_orders (id) ON DELETE CASCADE,
	position   INTEGER NOT NULL,
	product_id TEXT    NOT NULL,
	sku        TEXT    NOT NULL,
	quantity   INTEGER NOT NULL CHECK (quantity > 0),
	unit_price TEXT    NOT NULL,
	line_total TEXT    NOT NULL,
	PRIMARY KEY (order_id, position)
);

CREATE TABLE orders_history (
	order_id    TEXT NOT NULL REFERENCES orders_orders (id) ON DELETE CASCADE,
	status      TEXT NOT NULL CHECK (status IN ('PENDING', 'ACCEPTED', 'CONFIRMED', 'SHIPPED', 'REJECTED')),
	at          TEXT NOT NULL,
	source      TEXT NOT NULL CHECK (source IN ('region', 'origin', 'webhook', 'poll')),
	recorded_at TEXT NOT NULL,
	PRIMARY KEY (order_id, status)
);

CREATE TABLE orders_idempotency (
	placed_by    TEXT NOT NULL,
	idem_key     TEXT NOT NULL,
	request_hash TEXT NOT NULL,
	order_id     TEXT NOT NULL REFERENCES orders_orders (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
	created_at   TEXT NOT NULL,
	PRIMARY KEY (placed_by, idem_key)
);
CREATE INDEX orders_idempotency_created_idx ON orders_idempotency (created_at);

CREATE TABLE orders_outbox (
	id              TEXT    NOT NULL PRIMARY KEY,
	order_id        TEXT    NOT NULL REFERENCES orders_orders (id) ON DELETE CASCADE,
	kind            TEXT    NOT NULL CHECK (kind IN ('create')),
	state           TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'dead')),
	attempts        INTEGER NOT NULL,
	next_attempt_at TEXT    NOT NULL,
	locked_by       TEXT,
	locked_until    TEXT,
	last_error      TEXT    NOT NULL,
	dead_reason     TEXT    NOT NULL,
	created_at      TEXT    NOT NULL,
	updated_at      TEXT    NOT NULL,
	finished_at     TEXT,
	UNIQUE (order_id, kind)
);
CREATE INDEX orders_outbox_due_idx ON orders_outbox (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX orders_outbox_dead_idx ON orders_outbox (finished_at, id) WHERE state = 'dead';
`,
			Postgres: `
CREATE TABLE orders_orders (
	id                  TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	subject             TEXT COLLATE "C" NOT NULL,
	consultant_id       TEXT COLLATE "C",
	placed_by           TEXT COLLATE "C" NOT NULL,
	currency            TEXT NOT NULL,
	total               TEXT NOT NULL,
	shipping_address_id TEXT NOT NULL,
	note                TEXT NOT NULL,
	status              TEXT NOT NULL CHECK (status IN ('PENDING', 'ACCEPTED', 'CONFIRMED', 'SHIPPED', 'REJECTED')),
	reject_reason       TEXT NOT NULL,
	global_order_id     TEXT COLLATE "C" UNIQUE,
	created_at          TIMESTAMPTZ NOT NULL,
	updated_at          TIMESTAMPTZ NOT NULL,
	status_checked_at   TIMESTAMPTZ
);
CREATE INDEX orders_orders_subject_idx ON orders_orders (subject, id);
CREATE INDEX orders_orders_consultant_idx ON orders_orders (consultant_id, id) WHERE consultant_id IS NOT NULL;
CREATE INDEX orders_orders_consultant_status_idx ON orders_orders (consultant_id, status, id) WHERE consultant_id IS NOT NULL;
CREATE INDEX orders_orders_in_flight_idx ON orders_orders (status_checked_at, id)
	WHERE status IN ('ACCEPTED', 'CONFIRMED') AND global_order_id IS NOT NULL;

CREATE TABLE orders_lines (
	order_id   TEXT COLLATE "C" NOT NULL REFERENCES orders_orders (id) ON DELETE CASCADE,
	position   INTEGER NOT NULL,
	product_id TEXT    NOT NULL,
	sku        TEXT    NOT NULL,
	quantity   INTEGER NOT NULL CHECK (quantity > 0),
	unit_price TEXT    NOT NULL,
	line_total TEXT    NOT NULL,
	PRIMARY KEY (order_id, position)
);

CREATE TABLE orders_history (
	order_id    TEXT COLLATE "C" NOT NULL REFERENCES orders_orders (id) ON DELETE CASCADE,
	status      TEXT NOT NULL CHECK (status IN ('PENDING', 'ACCEPTED', 'CONFIRMED', 'SHIPPED', 'REJECTED')),
	at          TIMESTAMPTZ NOT NULL,
	source      TEXT NOT NULL CHECK (source IN ('region', 'origin', 'webhook', 'poll')),
	recorded_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (order_id, status)
);

CREATE TABLE orders_idempotency (
	placed_by    TEXT COLLATE "C" NOT NULL,
	idem_key     TEXT COLLATE "C" NOT NULL,
	request_hash TEXT NOT NULL,
	order_id     TEXT COLLATE "C" NOT NULL REFERENCES orders_orders (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
	created_at   TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (placed_by, idem_key)
);
CREATE INDEX orders_idempotency_created_idx ON orders_idempotency (created_at);

CREATE TABLE orders_outbox (
	id              TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	order_id        TEXT COLLATE "C" NOT NULL REFERENCES orders_orders (id) ON DELETE CASCADE,
	kind            TEXT    NOT NULL CHECK (kind IN ('create')),
	state           TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'dead')),
	attempts        INTEGER NOT NULL,
	next_attempt_at TIMESTAMPTZ NOT NULL,
	locked_by       TEXT,
	locked_until    TIMESTAMPTZ,
	last_error      TEXT    NOT NULL,
	dead_reason     TEXT    NOT NULL,
	created_at      TIMESTAMPTZ NOT NULL,
	updated_at      TIMESTAMPTZ NOT NULL,
	finished_at     TIMESTAMPTZ,
	UNIQUE (order_id, kind)
);
CREATE INDEX orders_outbox_due_idx ON orders_outbox (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX orders_outbox_dead_idx ON orders_outbox (finished_at, id) WHERE state = 'dead';
`,
		},
		{
			Version: 2,
			Name:    "add minor units and dashboard indexes",
			// total_minor and line_total_minor hold total and
			// line_total in minor units (cents), for the dashboards'
			// exact sums in SQL. The amounts are always written with
			// two fraction digits, so dropping the point gives the
			// minor units exactly; the migration fills the existing
			// rows that way, in one UPDATE of each table.
			//
			// The columns stay nullable, and triggers fill them on
			// every insert that leaves them NULL: the previous
			// release, which does not know them, keeps placing
			// orders during a rolling deploy, and its orders must
			// count too. Place fills them itself, so the triggers
			// do nothing once the rollout is over; a later version
			// may drop them and make the columns NOT NULL.
			//
			// The indexes make every analytics read an index-only
			// search, because a month of one consultant's sales is
			// thousands of orders and lines, too many to fetch from
			// the tables row by row in a few milliseconds:
			//   - (consultant_id, created_at) with the columns
			//     SalesSummary and TopProducts read (id, for the
			//     join to the lines);
			//   - (consultant_id, subject) with those CustomerTotals
			//     reads;
			//   - orders_lines (order_id) with the sales columns of
			//     a line. The primary key (order_id, position)
			//     already finds an order's lines, but without these
			//     columns: PostgreSQL would rather hash-join a scan
			//     of every line.
			// PostgreSQL carries the read columns as INCLUDE
			// columns; SQLite, which has none, as trailing key
			// columns.
			SQLite: `
ALTER TABLE orders_orders ADD COLUMN total_minor INTEGER;
UPDATE orders_orders SET total_minor = CAST(REPLACE(total, '.', '') AS INTEGER);
ALTER TABLE orders_lines ADD COLUMN line_total_minor INTEGER;
UPDATE orders_lines SET line_total_minor = CAST(REPLACE(line_total, '.', '') AS INTEGER);

CREATE TRIGGER orders_orders_total_minor_trg AFTER INSERT ON orders_orders
WHEN NEW.total_minor IS NULL
BEGIN
	UPDATE orders_orders SET total_minor = CAST(REPLACE(NEW.total, '.', '') AS INTEGER) WHERE id = NEW.id;
END;
CREATE TRIGGER orders_lines_line_total_minor_trg AFTER INSERT ON orders_lines
WHEN NEW.line_total_minor IS NULL
BEGIN
	UPDATE orders_lines SET line_total_minor = CAST(REPLACE(NEW.line_total, '.', '') AS INTEGER)
	WHERE order_id = NEW.order_id AND position = NEW.position;
END;

CREATE INDEX orders_orders_consultant_created_idx
	ON orders_orders (consultant_id, created_at, status, currency, subject, total_minor, id)
	WHERE consultant_id IS NOT NULL;
CREATE INDEX orders_lines_sales_idx
	ON orders_lines (order_id, product_id, sku, quantity, line_total_minor);
CREATE INDEX orders_orders_consultant_subject_idx
	ON orders_orders (consultant_id, subject, status, created_at, currency, total_minor)
	WHERE consultant_id IS NOT NULL;
`,
			Postgres: `
ALTER TABLE orders_orders ADD COLUMN total_minor BIGINT;
UPDATE orders_orders SET total_minor = REPLACE(total, '.', '')::BIGINT;
ALTER TABLE orders_lines ADD COLUMN line_total_minor BIGINT;
UPDATE orders_lines SET line_total_minor = REPLACE(line_total, '.', '')::BIGINT;

CREATE FUNCTION orders_orders_total_minor_fn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	NEW.total_minor := REPLACE(NEW.total, '.', '')::BIGINT;
	RETURN NEW;
END
$$;
CREATE TRIGGER orders_orders_total_minor_trg BEFORE INSERT ON orders_orders
	FOR EACH ROW WHEN (NEW.total_minor IS NULL) EXECUTE FUNCTION orders_orders_total_minor_fn();
CREATE FUNCTION orders_lines_line_total_minor_fn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	NEW.line_total_minor := REPLACE(NEW.line_total, '.', '')::BIGINT;
	RETURN NEW;
END
$$;
CREATE TRIGGER orders_lines_line_total_minor_trg BEFORE INSERT ON orders_lines
	FOR EACH ROW WHEN (NEW.line_total_minor IS NULL) EXECUTE FUNCTION orders_lines_line_total_minor_fn();

CREATE INDEX orders_orders_consultant_created_idx ON orders_orders (consultant_id, created_at)
	INCLUDE (status, currency, subject, total_minor, id) WHERE consultant_id IS NOT NULL;
CREATE INDEX orders_lines_sales_idx ON orders_lines (order_id)
	INCLUDE (product_id, sku, quantity, line_total_minor);
CREATE INDEX orders_orders_consultant_subject_idx ON orders_orders (consultant_id, subject)
	INCLUDE (status, created_at, currency, total_minor) WHERE consultant_id IS NOT NULL;
`,
		},
	}
}
