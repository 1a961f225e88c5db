package orderstore

import (
	"context"
	"database/sql"
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

// orderColumns is what scanOrder reads, in order.
const orderColumns = `id, subject, consultant_id, placed_by, currency, total, shipping_address_id, note, status, reject_reason, global_order_id, created_at, updated_at`

// SQLStore is the order store on Meridian's SQL database, SQLite or
// PostgreSQL. It is safe for concurrent use, and several stores (replicas)
// may share one PostgreSQL database. Every method runs as one transaction,
// so readers never see half of a write.
type SQLStore struct {
	db  *db.DB
	now func() time.Time
	ids ulids
}

// Option configures a SQLStore.
type Option func(*SQLStore)

// WithClock makes the store read the time from now instead of time.Now: it
// stamps orders, history and outbox entries, decides which outbox entries
// are due and which leases have expired, and times the ids it generates.
// For tests.
func WithClock(now func() time.Time) Option {
	return func(s *SQLStore) { s.now = now }
}

// NewSQLStore brings the order tables in database up to date (see
// db.Migrate; the component is "orders") and returns a store on them. It may
// wait for another replica that is migrating the same database, bounded by
// ctx. It fails without touching the database when database is nil or an
// option sets a nil clock. The caller keeps ownership of database and closes
// it after the store's last use.
func NewSQLStore(ctx context.Context, database *db.DB, opts ...Option) (*SQLStore, error) {
	if database == nil {
		return nil, errors.New("orderstore: new store: nil database")
	}
	s := &SQLStore{db: database, now: time.Now}
	for _, opt := range opts {
		opt(s)
	}
	if s.now == nil {
		return nil, errors.New("orderstore: new store: nil clock")
	}
	if err := db.Migrate(ctx, database, migrationComponent, migrations()); err != nil {
		return nil, fmt.Errorf("orderstore: %w", err)
	}
	return s, nil
}

// clock returns the time as the store keeps it: UTC, microseconds.
func (s *SQLStore) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

func (s *SQLStore) newID(prefix string, now time.Time) (string, error) {
	id, err := s.ids.next(now)
	if err != nil {
		return "", err
	}
	return prefix + id, nil
}

// Place records an order to be sent to Order Management, in one
// transaction: the principal's idempotency record, the order (PENDING), its
// lines, the first entry of its history and an outbox entry due at once.
// Once Place returns the order, it is durable and will be sent.
//
// The idempotency record is unique on (PlacedBy, IdempotencyKey):
//
//   - a new key creates the order; created is true;
//   - a key PlacedBy used before with the same RequestHash returns the
//     order that call created, as it is now (still PENDING while it is
//     being sent, or further along), with created false;
//   - a key PlacedBy used before with another RequestHash fails with an
//     error wrapping ErrIdempotencyKeyReused;
//   - the same key from another principal is another order.
//
// Concurrent calls with one key and principal create one order: the others
// wait for the first transaction and then return its order. The store
// computes every LineTotal and the Total from the unit prices and
// quantities (exact decimal arithmetic), and records them in minor units as
// well, for the dashboards' sums. An invalid request changes
// nothing and fails with one *FieldError per problem, wrapping
// ErrInvalidInput.
func (s *SQLStore) Place(ctx context.Context, req PlaceRequest) (order Order, created bool, err error) {
	lines, total, err := validatePlace(req)
	if err != nil {
		return Order{}, false, fmt.Errorf("orderstore: place: %w", err)
	}
	// The amounts again in minor units, which the dashboards sum in SQL,
	// exactly (see SalesSummary).
	totalMinor, err := minorUnits(total)
	if err != nil {
		return Order{}, false, fmt.Errorf("orderstore: place: %w", err)
	}
	lineMinor := make([]int64, len(lines))
	for i, l := range lines {
		if lineMinor[i], err = minorUnits(l.LineTotal); err != nil {
			return Order{}, false, fmt.Errorf("orderstore: place: %w", err)
		}
	}
	now := s.clock()
	id, err := s.newID("ord-", now)
	if err != nil {
		return Order{}, false, fmt.Errorf("orderstore: place: %w", err)
	}
	entryID, err := s.newID("obx-", now)
	if err != nil {
		return Order{}, false, fmt.Errorf("orderstore: place: %w", err)
	}
	d := s.db.Dialect()
	err = s.db.WriteTx(ctx, func(tx *db.Tx) error {
		// The key is claimed first. On PostgreSQL a concurrent
		// transaction with the same key blocks here until the first
		// commits (then finds its record) or rolls back (then goes on
		// to create); on SQLite the write lock taken at BEGIN has
		// already serialized them.
		res, err := tx.ExecContext(ctx, `INSERT INTO orders_idempotency (placed_by, idem_key, request_hash, order_id, created_at)
VALUES (?, ?, ?, ?, ?) ON CONFLICT (placed_by, idem_key) DO NOTHING`,
			req.PlacedBy, req.IdempotencyKey, req.RequestHash, id, d.TimeArg(now))
		if err != nil {
			return fmt.Errorf("claim idempotency key: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("claim idempotency key: %w", err)
		}
		if n == 0 {
			order, err = s.replay(ctx, tx, req)
			return err
		}
		consultant := sql.NullString{String: req.ConsultantID, Valid: req.ConsultantID != ""}
		if _, err := tx.ExecContext(ctx, `INSERT INTO orders_orders (`+orderColumns+`, status_checked_at, total_minor)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '', NULL, ?, ?, NULL, ?)`,
			id, req.Subject, consultant, req.PlacedBy, req.Currency, total, req.ShippingAddressID, req.Note,
			string(StatusPending), d.TimeArg(now), d.TimeArg(now), totalMinor); err != nil {
			return fmt.Errorf("insert order: %w", err)
		}
		for i, l := range lines {
			if _, err := tx.ExecContext(ctx, `INSERT INTO orders_lines (order_id, position, product_id, sku, quantity, unit_price, line_total, line_total_minor)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, id, i, l.ProductID, l.SKU, l.Quantity, l.UnitPrice, l.LineTotal, lineMinor[i]); err != nil {
				return fmt.Errorf("insert line %d: %w", i, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO orders_history (order_id, status, at, source, recorded_at) VALUES (?, ?, ?, ?, ?)`,
			id, string(StatusPending), d.TimeArg(now), string(SourceRegion), d.TimeArg(now)); err != nil {
			return fmt.Errorf("insert history: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO orders_outbox
	(id, order_id, kind, state, attempts, next_attempt_at, locked_by, locked_until, last_error, dead_reason, created_at, updated_at, finished_at)
VALUES (?, ?, 'create', 'pending', 0, ?, NULL, NULL, '', '', ?, ?, NULL)`,
			entryID, id, d.TimeArg(now), d.TimeArg(now), d.TimeArg(now)); err != nil {
			return fmt.Errorf("insert outbox entry: %w", err)
		}
		created = true
		order = Order{
			ID: id, Subject: req.Subject, ConsultantID: req.ConsultantID, PlacedBy: req.PlacedBy,
			Currency: req.Currency, Lines: lines, Total: total, ShippingAddressID: req.ShippingAddressID,
			Note: req.Note, Status: StatusPending,
			History:   []StatusChange{{Status: StatusPending, At: now, Source: SourceRegion}},
			CreatedAt: now, UpdatedAt: now,
		}
		return nil
	})
	if err != nil {
		return Order{}, false, fmt.Errorf("orderstore: place: %w", err)
	}
	return order, created, nil
}

// replay answers a Place whose key the principal used before.
func (s *SQLStore) replay(ctx context.Context, tx *db.Tx, req PlaceRequest) (Order, error) {
	var hash, existing string
	err := tx.QueryRowContext(ctx, "SELECT request_hash, order_id FROM orders_idempotency WHERE placed_by = ? AND idem_key = ?",
		req.PlacedBy, req.IdempotencyKey).Scan(&hash, &existing)
	if errors.Is(err, sql.ErrNoRows) {
		// Purged between the insert and this read: both need the key
		// to be older than a day, so this is all but impossible, and
		// a retry of the call succeeds.
		return Order{}, errors.New("idempotency record vanished while being read; retry")
	}
	if err != nil {
		return Order{}, fmt.Errorf("read idempotency record: %w", err)
	}
	if hash != req.RequestHash {
		return Order{}, ErrIdempotencyKeyReused
	}
	orders, err := selectOrders(ctx, tx, "SELECT "+orderColumns+" FROM orders_orders WHERE id = ?", existing)
	if err != nil {
		return Order{}, err
	}
	if len(orders) == 0 {
		return Order{}, fmt.Errorf("idempotency record names order %s, which does not exist", existing)
	}
	return orders[0], nil
}

// Get returns the order id with its lines and history. An id the store
// cannot have generated is a *FieldError; an unknown one an error wrapping
// ErrNotFound.
func (s *SQLStore) Get(ctx context.Context, id string) (Order, error) {
	if !orderID.MatchString(id) {
		return Order{}, fmt.Errorf("orderstore: get: %w", fieldError("id", "is not an order id"))
	}
	var orders []Order
	err := s.db.ReadTx(ctx, func(tx *db.Tx) error {
		var err error
		orders, err = selectOrders(ctx, tx, "SELECT "+orderColumns+" FROM orders_orders WHERE id = ?", id)
		return err
	})
	if err != nil {
		return Order{}, fmt.Errorf("orderstore: get: %w", err)
	}
	if len(orders) == 0 {
		return Order{}, fmt.Errorf("orderstore: get %s: %w", id, ErrNotFound)
	}
	return orders[0], nil
}

// ListBySubject returns a page of the customer subject's orders, newest
// first, starting after the order afterID ("" for the first page; it need
// not exist any more, it only marks a position). first is 1 to MaxPageSize.
func (s *SQLStore) ListBySubject(ctx context.Context, subject string, first int, afterID string) (Page, error) {
	var p problems
	checkID(&p, "subject", subject)
	checkPage(&p, first, afterID)
	if err := p.err(); err != nil {
		return Page{}, fmt.Errorf("orderstore: list by subject: %w", err)
	}
	page, err := s.page(ctx, "subject = ?", []any{subject}, first, afterID)
	if err != nil {
		return Page{}, fmt.Errorf("orderstore: list by subject: %w", err)
	}
	return page, nil
}

// ListByConsultant returns a page of the orders credited to consultantID,
// newest first, only those in *status when status is not nil, starting
// after the order afterID as in ListBySubject. This is the consultant
// dashboards' read.
func (s *SQLStore) ListByConsultant(ctx context.Context, consultantID string, status *Status, first int, afterID string) (Page, error) {
	var p problems
	checkID(&p, "consultantId", consultantID)
	checkPage(&p, first, afterID)
	if status != nil && !status.Valid() {
		p.add("status", "must be one of PENDING, ACCEPTED, CONFIRMED, SHIPPED, REJECTED")
	}
	if err := p.err(); err != nil {
		return Page{}, fmt.Errorf("orderstore: list by consultant: %w", err)
	}
	where, args := "consultant_id = ?", []any{consultantID}
	if status != nil {
		where += " AND status = ?"
		args = append(args, string(*status))
	}
	page, err := s.page(ctx, where, args, first, afterID)
	if err != nil {
		return Page{}, fmt.Errorf("orderstore: list by consultant: %w", err)
	}
	return page, nil
}

func checkPage(p *problems, first int, afterID string) {
	if first < 1 || first > MaxPageSize {
		p.add("first", fmt.Sprintf("must be between 1 and %d", MaxPageSize))
	}
	if afterID != "" && !orderID.MatchString(afterID) {
		p.add("afterId", "is not an order id")
	}
}

// page reads one page of orders matching where, newest first: ids are
// ULIDs, so id order is creation order and the index (…, id) serves both
// the filter and the order.
func (s *SQLStore) page(ctx context.Context, where string, args []any, first int, afterID string) (Page, error) {
	query := pageSQL(where, afterID != "")
	if afterID != "" {
		args = append(args, afterID)
	}
	// One row more than the page tells whether another page follows.
	args = append(args, first+1)
	var page Page
	err := s.db.ReadTx(ctx, func(tx *db.Tx) error {
		orders, err := selectOrders(ctx, tx, query, args...)
		if err != nil {
			return err
		}
		if len(orders) > first {
			orders, page.HasNextPage = orders[:first], true
		}
		page.Orders = orders
		return nil
	})
	return page, err
}

// pageSQL is the query of one page of orders matching where (and, with
// after, older than an id given after where's arguments), newest first,
// with the limit as its last argument.
func pageSQL(where string, after bool) string {
	query := "SELECT " + orderColumns + " FROM orders_orders WHERE " + where
	if after {
		query += " AND id < ?"
	}
	return query + " ORDER BY id DESC LIMIT ?"
}

// PurgeIdempotencyKeys forgets the idempotency keys recorded before
// olderThan whose orders are in a final status (SHIPPED or REJECTED), and
// returns how many it removed. Keys of orders still under way are kept,
// however old: a retry must still find its order. olderThan must be at
// least MinIdempotencyRetention before now (else a *FieldError), so a key
// is always kept a day. After the purge, the same key places a new order.
func (s *SQLStore) PurgeIdempotencyKeys(ctx context.Context, olderThan time.Time) (int, error) {
	if olderThan.After(s.now().Add(-MinIdempotencyRetention)) {
		return 0, fmt.Errorf("orderstore: purge idempotency keys: %w",
			fieldError("olderThan", fmt.Sprintf("must be at least %v ago", MinIdempotencyRetention)))
	}
	var n int64
	err := s.db.WriteTx(ctx, func(tx *db.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM orders_idempotency WHERE created_at < ?
AND order_id IN (SELECT id FROM orders_orders WHERE status IN ('SHIPPED', 'REJECTED'))`, s.db.Dialect().TimeArg(olderThan))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("orderstore: purge idempotency keys: %w", err)
	}
	return int(n), nil
}

// selectOrders runs a SELECT of orderColumns and returns the orders in row
// order, with their lines and history.
func selectOrders(ctx context.Context, tx *db.Tx, query string, args ...any) ([]Order, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("select orders: %w", err)
	}
	var orders []Order
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("select orders: %w", err)
		}
		orders = append(orders, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select orders: %w", err)
	}
	if err := fillOrders(ctx, tx, orders); err != nil {
		return nil, err
	}
	return orders, nil
}

func scanOrder(rows *sql.Rows) (Order, error) {
	var o Order
	var consultant, global sql.NullString
	var status string
	var created, updated db.Timestamp
	if err := rows.Scan(&o.ID, &o.Subject, &consultant, &o.PlacedBy, &o.Currency, &o.Total, &o.ShippingAddressID,
		&o.Note, &status, &o.RejectReason, &global, &created, &updated); err != nil {
		return Order{}, err
	}
	o.ConsultantID, o.GlobalOrderID = consultant.String, global.String
	o.Status = Status(status)
	o.CreatedAt, o.UpdatedAt = created.Time, updated.Time
	return o, nil
}

// fillOrders loads the lines and history of orders, a few queries per
// maxIDsPerQuery orders rather than two per order.
func fillOrders(ctx context.Context, tx *db.Tx, orders []Order) error {
	byID := make(map[string]*Order, len(orders))
	ids := make([]string, len(orders))
	for i := range orders {
		byID[orders[i].ID] = &orders[i]
		ids[i] = orders[i].ID
	}
	for chunk := range slices.Chunk(ids, maxIDsPerQuery) {
		in, args := inList(chunk)
		rows, err := tx.QueryContext(ctx, `SELECT order_id, product_id, sku, quantity, unit_price, line_total
FROM orders_lines WHERE order_id IN (`+in+`) ORDER BY order_id, position`, args...)
		if err != nil {
			return fmt.Errorf("select lines: %w", err)
		}
		for rows.Next() {
			var id string
			var l Line
			if err := rows.Scan(&id, &l.ProductID, &l.SKU, &l.Quantity, &l.UnitPrice, &l.LineTotal); err != nil {
				rows.Close()
				return fmt.Errorf("select lines: %w", err)
			}
			byID[id].Lines = append(byID[id].Lines, l)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("select lines: %w", err)
		}

		rows, err = tx.QueryContext(ctx, `SELECT order_id, status, at, source FROM orders_history WHERE order_id IN (`+in+`)`, args...)
		if err != nil {
			return fmt.Errorf("select history: %w", err)
		}
		for rows.Next() {
			var id, status, source string
			var at db.Timestamp
			if err := rows.Scan(&id, &status, &at, &source); err != nil {
				rows.Close()
				return fmt.Errorf("select history: %w", err)
			}
			o := byID[id]
			o.History = append(o.History, StatusChange{Status: Status(status), At: at.Time, Source: Source(source)})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("select history: %w", err)
		}
	}
	for _, o := range byID {
		// Statuses only move forward, so life order is the order they
		// were reached in, whatever the clocks behind At said.
		slices.SortFunc(o.History, func(a, b StatusChange) int { return a.Status.rank() - b.Status.rank() })
	}
	return nil
}

// inList returns "?, ?, ?" for ids and the ids as arguments.
func inList(ids []string) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", "), args
}
