package catalog

import "meridian/internal/db"

// migrationComponent is the catalog's name in schema_migrations; its tables
// and indexes are prefixed "catalog_" for the same reason.
const migrationComponent = "catalog"

// migrations returns the catalog's schema history. Released versions are
// never edited; changes are appended as new versions.
//
// Layout:
//   - catalog_categories: one row per category; the localized name is a JSON
//     object, read whole with the row.
//   - catalog_products: one row per product. price_amount is NUMERIC(12,2) on
//     PostgreSQL and canonical decimal text on SQLite, read back as text on
//     both. search_text is the lowercased SKU and names that Search matches
//     with LIKE. IDs use the "C" collation on PostgreSQL so that ORDER BY id
//     and id > ? compare bytes, as on SQLite, whatever the database's
//     default collation.
//   - catalog_product_texts: one row per product and locale with the name and
//     description; either may be NULL when the product has the other text in
//     that locale only.
//   - catalog_inventory (version 2): inventory snapshots by SKU, written by
//     the master data sync job.
//   - catalog_products.revision (version 3): a random value every write of
//     the row (or of its texts) replaces, so a store can keep decoded
//     products and tell from one narrow read whether its copy is current.
//     Rows written before version 3 keep revision 0; writers never use it.
//
// category_id is deliberately not a foreign key: the mirror follows the
// product master in whatever order its changes arrive, and a product may
// land before its category.
func migrations() []db.Migration {
	return []db.Migration{
		{
			Version: 1,
			Name:    "create catalog tables",
			SQLite: `
CREATE TABLE catalog_categories (
	id        TEXT    NOT NULL PRIMARY KEY,
	position  INTEGER NOT NULL,
	name_json TEXT    NOT NULL
);
CREATE INDEX catalog_categories_position_idx ON catalog_categories (position, id);

CREATE TABLE catalog_products (
	id           TEXT NOT NULL PRIMARY KEY,
	sku          TEXT NOT NULL UNIQUE,
	category_id  TEXT NOT NULL,
	price_amount TEXT NOT NULL,
	currency     TEXT NOT NULL,
	images_json  TEXT NOT NULL,
	search_text  TEXT NOT NULL,
	mirrored_at  TEXT NOT NULL
);
CREATE INDEX catalog_products_category_idx ON catalog_products (category_id, id);

CREATE TABLE catalog_product_texts (
	product_id  TEXT NOT NULL REFERENCES catalog_products (id) ON DELETE CASCADE,
	locale      TEXT NOT NULL,
	name        TEXT,
	description TEXT,
	PRIMARY KEY (product_id, locale)
);
`,
			Postgres: `
CREATE TABLE catalog_categories (
	id        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	position  INTEGER NOT NULL,
	name_json JSONB   NOT NULL
);
CREATE INDEX catalog_categories_position_idx ON catalog_categories (position, id);

CREATE TABLE catalog_products (
	id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	sku          TEXT          NOT NULL UNIQUE,
	category_id  TEXT COLLATE "C" NOT NULL,
	price_amount NUMERIC(12,2) NOT NULL CHECK (price_amount >= 0),
	currency     TEXT          NOT NULL,
	images_json  JSONB         NOT NULL,
	search_text  TEXT          NOT NULL,
	mirrored_at  TIMESTAMPTZ   NOT NULL
);
CREATE INDEX catalog_products_category_idx ON catalog_products (category_id, id);

CREATE TABLE catalog_product_texts (
	product_id  TEXT COLLATE "C" NOT NULL REFERENCES catalog_products (id) ON DELETE CASCADE,
	locale      TEXT NOT NULL,
	name        TEXT,
	description TEXT,
	PRIMARY KEY (product_id, locale)
);
`,
		},
		{
			Version: 2,
			Name:    "create catalog inventory snapshots",
			// catalog_inventory: the sync job's last copy of each SKU's
			// available quantity, with the master's own timestamp of
			// it (source_updated_at) and when it was written here
			// (mirrored_at). Keyed by SKU, not product ID, because that
			// is how the master reports stock; deliberately not a
			// foreign key, for the same reason as category_id above.
			SQLite: `
CREATE TABLE catalog_inventory (
	sku               TEXT    NOT NULL PRIMARY KEY,
	available         INTEGER NOT NULL CHECK (available >= 0),
	source_updated_at TEXT    NOT NULL,
	mirrored_at       TEXT    NOT NULL
);
`,
			Postgres: `
CREATE TABLE catalog_inventory (
	sku               TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	available         INTEGER     NOT NULL CHECK (available >= 0),
	source_updated_at TIMESTAMPTZ NOT NULL,
	mirrored_at       TIMESTAMPTZ NOT NULL
);
`,
		},
		{
			Version: 3,
			Name:    "add product row revisions",
			// The index covers a page's read of IDs and revisions in ID
			// order, so it never touches the rows themselves.
			SQLite: `
ALTER TABLE catalog_products ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
CREATE INDEX catalog_products_revision_idx ON catalog_products (id, revision);
`,
			Postgres: `
ALTER TABLE catalog_products ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
CREATE INDEX catalog_products_revision_idx ON catalog_products (id, revision);
`,
		},
	}
}
