package orderstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"meridian/internal/db"
)

// StatusUpdate is news of an order's status from Order Management.
type StatusUpdate struct {
	// OrderID is the region order id. When it is set the order is found by
	// it, and GlobalOrderID, when also set, must agree with the global id
	// the order has (or is recorded when it has none yet: a webhook may
	// arrive before the dispatcher records the answer to its send).
	OrderID string
	// GlobalOrderID is Order Management's id, by which the order is found
	// when OrderID is empty. One of the two is required.
	GlobalOrderID string
	// Status is ACCEPTED, CONFIRMED, SHIPPED or REJECTED; PENDING is the
	// region's own and never news.
	Status Status
	// Reason is the client-safe reason of a REJECTED status, required for
	// it and ignored otherwise.
	Reason string
	// At is when the order reached Status, by the sender's clock.
	At time.Time
	// Source is who sent the news: origin, webhook or poll.
	Source Source
}

// ApplyStatus moves an order forward to u.Status and reports whether it
// changed. It is idempotent and monotonic, because webhooks and polls
// arrive late, twice and out of order:
//
//   - PENDING < ACCEPTED < CONFIRMED < SHIPPED; a status at or below the
//     order's current one is ignored (changed is false, no error);
//   - REJECTED applies over any status but SHIPPED; nothing applies over
//     SHIPPED or REJECTED, which are final;
//   - a status may be skipped (CONFIRMED straight after PENDING when the
//     ACCEPTED news was lost); the history then lacks it, and a later
//     ACCEPTED is ignored as older;
//   - each status reached is recorded once in the history, with u.At and
//     u.Source, even under concurrent updates (the order's row is locked,
//     and the history's key forbids a second entry).
//
// Either way, the update records that Order Management spoke of the order
// now, which the polling safety net (InFlight) relies on, and records
// u.GlobalOrderID on an order that has none yet.
//
// An order that does not exist, or whose global id is not u.GlobalOrderID,
// is an error wrapping ErrNotFound: the news may be about another region's
// order. A malformed update is a *FieldError.
func (s *SQLStore) ApplyStatus(ctx context.Context, u StatusUpdate) (changed bool, err error) {
	var p problems
	if u.OrderID == "" && u.GlobalOrderID == "" {
		p.add("orderId", "an order id or a global order id is required")
	}
	if u.OrderID != "" && !orderID.MatchString(u.OrderID) {
		p.add("orderId", "is not an order id")
	}
	if u.GlobalOrderID != "" {
		checkID(&p, "globalOrderId", u.GlobalOrderID)
	}
	if !u.Status.Valid() || u.Status == StatusPending {
		p.add("status", "must be ACCEPTED, CONFIRMED, SHIPPED or REJECTED")
	}
	if u.Status == StatusRejected && u.Reason == "" {
		p.add("reason", "is required for REJECTED")
	}
	if u.At.IsZero() {
		p.add("at", "is required")
	}
	if !u.Source.valid() || u.Source == SourceRegion {
		p.add("source", "must be origin, webhook or poll")
	}
	if err := p.err(); err != nil {
		return false, fmt.Errorf("orderstore: apply status: %w", err)
	}
	now := s.clock()
	err = s.db.WriteTx(ctx, func(tx *db.Tx) error {
		id := u.OrderID
		if id == "" {
			err := tx.QueryRowContext(ctx, "SELECT id FROM orders_orders WHERE global_order_id = ?", u.GlobalOrderID).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("global order %s: %w", u.GlobalOrderID, ErrNotFound)
			}
			if err != nil {
				return fmt.Errorf("find order: %w", err)
			}
		}
		var err error
		changed, err = applyStatus(ctx, tx, id, u, now)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("orderstore: apply status: %w", err)
	}
	return changed, nil
}

// applyStatus is ApplyStatus on the order id inside tx, at the store's time
// now. The order's row is read with FOR UPDATE on PostgreSQL, so concurrent
// updates of one order apply one after the other; SQLite's write lock
// already does that.
func applyStatus(ctx context.Context, tx *db.Tx, id string, u StatusUpdate, now time.Time) (bool, error) {
	query := "SELECT status, global_order_id FROM orders_orders WHERE id = ?"
	if tx.Dialect() == db.Postgres {
		query += " FOR UPDATE"
	}
	var current string
	var global sql.NullString
	err := tx.QueryRowContext(ctx, query, id).Scan(&current, &global)
	if errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("order %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("read order: %w", err)
	}
	if u.GlobalOrderID != "" && global.Valid && global.String != u.GlobalOrderID {
		return false, fmt.Errorf("order %s is not global order %s: %w", id, u.GlobalOrderID, ErrNotFound)
	}
	d := tx.Dialect()
	cur := Status(current)
	changed := !cur.Final() && u.Status.rank() > cur.rank()

	set, args := "status_checked_at = ?", []any{d.TimeArg(now)}
	if u.GlobalOrderID != "" && !global.Valid {
		set += ", global_order_id = ?"
		args = append(args, u.GlobalOrderID)
	}
	if changed {
		set += ", status = ?, updated_at = ?"
		args = append(args, string(u.Status), d.TimeArg(now))
		if u.Status == StatusRejected {
			set += ", reject_reason = ?"
			args = append(args, clip(u.Reason, maxReasonLength))
		}
	}
	if _, err := tx.ExecContext(ctx, "UPDATE orders_orders SET "+set+" WHERE id = ?", append(args, id)...); err != nil {
		return false, fmt.Errorf("update order: %w", err)
	}
	if !changed {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO orders_history (order_id, status, at, source, recorded_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (order_id, status) DO NOTHING`, id, string(u.Status), d.TimeArg(u.At), string(u.Source), d.TimeArg(now)); err != nil {
		return false, fmt.Errorf("insert history: %w", err)
	}
	return true, nil
}

// inFlightSQL selects the polling net's orders; the partial index
// orders_orders_in_flight_idx has the same condition and order.
const inFlightSQL = "SELECT " + orderColumns + ` FROM orders_orders
WHERE status IN ('ACCEPTED', 'CONFIRMED') AND global_order_id IS NOT NULL AND status_checked_at <= ?
ORDER BY status_checked_at, id LIMIT ?`

// InFlight returns up to limit orders (1 to MaxPageSize) that Order
// Management accepted and that are not final (ACCEPTED or CONFIRMED, with a
// global id), of which the region has heard nothing since checkedBefore
// (no answer, webhook or poll), longest silent first: the polling safety
// net's work list, for when webhooks are lost. Each ApplyStatus of an order
// counts as hearing of it, so a poll that finds nothing new still moves the
// order to the back of the list.
func (s *SQLStore) InFlight(ctx context.Context, checkedBefore time.Time, limit int) ([]Order, error) {
	if limit < 1 || limit > MaxPageSize {
		return nil, fmt.Errorf("orderstore: in flight: %w",
			fieldError("limit", fmt.Sprintf("must be between 1 and %d", MaxPageSize)))
	}
	var orders []Order
	err := s.db.ReadTx(ctx, func(tx *db.Tx) error {
		var err error
		orders, err = selectOrders(ctx, tx, inFlightSQL, s.db.Dialect().TimeArg(checkedBefore), limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("orderstore: in flight: %w", err)
	}
	return orders, nil
}
