package orderstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"meridian/internal/db"
)

// entryColumns is what scanEntry reads, in order.
const entryColumns = `id, order_id, state, attempts, next_attempt_at, locked_by, locked_until, last_error, dead_reason, created_at, finished_at`

// claimSQL selects the entries a claim takes: pending, due, and not under a
// live lease (never leased, released by MarkRetry, or leased to a worker
// that has not finished in time). Oldest due first, so a backlog drains in
// order. The partial index orders_outbox_due_idx serves it. On PostgreSQL
// Claim appends FOR UPDATE SKIP LOCKED.
const claimSQL = `SELECT id FROM orders_outbox
WHERE state = 'pending' AND next_attempt_at <= ? AND (locked_until IS NULL OR locked_until <= ?)
ORDER BY next_attempt_at, id
LIMIT ?`

// ClaimSQL returns the statement Claim runs, with ? placeholders, on dialect
// d, for operators and reviews: the same text, with FOR UPDATE SKIP LOCKED
// on PostgreSQL.
func ClaimSQL(d db.Dialect) string {
	if d == db.Postgres {
		return claimSQL + "\nFOR UPDATE SKIP LOCKED"
	}
	return claimSQL
}

// Claim takes up to limit due outbox entries for worker and returns them,
// oldest due first, each with its order: it leases them to worker until now
// plus lease and counts an attempt. Entries are due when they are pending,
// their next attempt time has come, and no live lease holds them; an entry
// whose lease expired (its worker died or hung) is due again, so an order
// is never stuck behind a dead worker.
//
// Claims never overlap: on PostgreSQL the claiming transaction locks the
// rows it selects with FOR UPDATE SKIP LOCKED, so a concurrent claim on
// another replica skips them instead of waiting, and sees them leased once
// this one commits; on SQLite the write transaction holds the database's
// write lock from its start. An entry is therefore held by at most one
// worker's live lease at a time.
//
// lease must outlast the worker's whole attempt (the origin call and
// MarkSent); the worker must not act on an entry after its lease has
// ended. worker is 1 to MaxIDLength printable characters, limit 1 to
// MaxClaim, lease positive, else a *FieldError. No due entry is an empty
// result, not an error.
func (s *SQLStore) Claim(ctx context.Context, worker string, limit int, lease time.Duration) ([]OutboxEntry, error) {
	var p problems
	checkID(&p, "worker", worker)
	if limit < 1 || limit > MaxClaim {
		p.add("limit", fmt.Sprintf("must be between 1 and %d", MaxClaim))
	}
	if lease <= 0 {
		p.add("lease", "must be positive")
	}
	if err := p.err(); err != nil {
		return nil, fmt.Errorf("orderstore: claim: %w", err)
	}
	now := s.clock()
	d := s.db.Dialect()
	var entries []OutboxEntry
	err := s.db.WriteTx(ctx, func(tx *db.Tx) error {
		rows, err := tx.QueryContext(ctx, ClaimSQL(d), d.TimeArg(now), d.TimeArg(now), limit)
		if err != nil {
			return fmt.Errorf("select due entries: %w", err)
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("select due entries: %w", err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("select due entries: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		in, idArgs := inList(ids)
		args := append([]any{worker, d.TimeArg(now.Add(lease)), d.TimeArg(now)}, idArgs...)
		if _, err := tx.ExecContext(ctx, `UPDATE orders_outbox SET locked_by = ?, locked_until = ?, attempts = attempts + 1, updated_at = ?
WHERE id IN (`+in+`)`, args...); err != nil {
			return fmt.Errorf("lease entries: %w", err)
		}
		entries, err = selectEntries(ctx, tx, "SELECT "+entryColumns+" FROM orders_outbox WHERE id IN ("+in+") ORDER BY next_attempt_at, id", idArgs...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("orderstore: claim: %w", err)
	}
	return entries, nil
}

// MarkSent records that Order Management holds the entry's order as
// globalOrderID in status (ACCEPTED, or further when a resent order had
// already moved on): the entry becomes sent and the order's projection
// moves forward as ApplyStatus would, with source "origin".
//
// It succeeds only while worker holds the entry's claim: after its lease
// expired and another worker claimed the entry, or after the entry was
// marked, it fails with an error wrapping ErrLeaseLost and changes nothing
// (the other worker's resend is answered with the same order, thanks to the
// idempotency key, and it records it). A lease that expired without
// another claim still counts as held. An unknown entry is ErrNotFound.
func (s *SQLStore) MarkSent(ctx context.Context, entryID, worker, globalOrderID string, status Status) error {
	var p problems
	checkID(&p, "entryId", entryID)
	checkID(&p, "worker", worker)
	checkID(&p, "globalOrderId", globalOrderID)
	if status != StatusAccepted && status != StatusConfirmed && status != StatusShipped {
		p.add("status", "must be ACCEPTED, CONFIRMED or SHIPPED")
	}
	if err := p.err(); err != nil {
		return fmt.Errorf("orderstore: mark sent: %w", err)
	}
	now := s.clock()
	d := s.db.Dialect()
	err := s.db.WriteTx(ctx, func(tx *db.Tx) error {
		orderID, err := finishEntry(ctx, tx, entryID, worker, d.TimeArg(now), `state = 'sent', last_error = '', finished_at = ?`, d.TimeArg(now))
		if err != nil {
			return err
		}
		_, err = applyStatus(ctx, tx, orderID, StatusUpdate{
			OrderID: orderID, GlobalOrderID: globalOrderID, Status: status, At: now, Source: SourceOrigin,
		}, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("orderstore: mark sent %s: %w", entryID, err)
	}
	return nil
}

// MarkRetry gives the entry back for another attempt at nextAttemptAt (a
// backoff chosen by the dispatcher; now or earlier means at once), keeping
// lastError for operators (clipped to a couple of thousand bytes). The
// order stays PENDING. Like MarkSent it needs worker's claim, else
// ErrLeaseLost.
func (s *SQLStore) MarkRetry(ctx context.Context, entryID, worker string, nextAttemptAt time.Time, lastError string) error {
	var p problems
	checkID(&p, "entryId", entryID)
	checkID(&p, "worker", worker)
	if nextAttemptAt.IsZero() {
		p.add("nextAttemptAt", "is required")
	}
	if err := p.err(); err != nil {
		return fmt.Errorf("orderstore: mark retry: %w", err)
	}
	now := s.clock()
	d := s.db.Dialect()
	err := s.db.WriteTx(ctx, func(tx *db.Tx) error {
		_, err := finishEntry(ctx, tx, entryID, worker, d.TimeArg(now), `next_attempt_at = ?, last_error = ?`,
			d.TimeArg(nextAttemptAt), clip(lastError, maxLastErrorLength))
		return err
	})
	if err != nil {
		return fmt.Errorf("orderstore: mark retry %s: %w", entryID, err)
	}
	return nil
}

// MarkDead gives the entry up because Order Management refused the order
// for good (a changed price, no stock, an unknown SKU): the entry stays as a
// dead letter (DeadLetters) with reason, and the order becomes REJECTED with
// reason as its RejectReason, which customers and consultants read, so
// reason must be client-safe words ("the price of SKC-1011 changed"). Like
// MarkSent it needs worker's claim, else ErrLeaseLost. An order already
// SHIPPED stays so.
func (s *SQLStore) MarkDead(ctx context.Context, entryID, worker, reason string) error {
	var p problems
	checkID(&p, "entryId", entryID)
	checkID(&p, "worker", worker)
	if reason == "" {
		p.add("reason", "is required")
	}
	if err := p.err(); err != nil {
		return fmt.Errorf("orderstore: mark dead: %w", err)
	}
	reason = clip(reason, maxReasonLength)
	now := s.clock()
	d := s.db.Dialect()
	err := s.db.WriteTx(ctx, func(tx *db.Tx) error {
		orderID, err := finishEntry(ctx, tx, entryID, worker, d.TimeArg(now), `state = 'dead', dead_reason = ?, finished_at = ?`, reason, d.TimeArg(now))
		if err != nil {
			return err
		}
		_, err = applyStatus(ctx, tx, orderID, StatusUpdate{
			OrderID: orderID, Status: StatusRejected, Reason: reason, At: now, Source: SourceOrigin,
		}, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("orderstore: mark dead %s: %w", entryID, err)
	}
	return nil
}

// finishEntry ends worker's claim of a pending entry with the extra
// assignments set (their arguments in args), stamps it updated at now (a
// TimeArg), and returns its order id. It fails with ErrNotFound for an
// unknown entry and ErrLeaseLost for one this worker does not hold any
// more. The condition on locked_by is what keeps a worker whose lease
// expired from overwriting its successor's outcome; the row lock the UPDATE
// takes orders concurrent marks.
func finishEntry(ctx context.Context, tx *db.Tx, entryID, worker string, now any, set string, args ...any) (string, error) {
	all := slices.Concat(args, []any{now, entryID, worker})
	res, err := tx.ExecContext(ctx, `UPDATE orders_outbox SET `+set+`, locked_by = NULL, locked_until = NULL, updated_at = ?
WHERE id = ? AND state = 'pending' AND locked_by = ?`, all...)
	if err != nil {
		return "", fmt.Errorf("update entry: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return "", fmt.Errorf("update entry: %w", err)
	}
	var orderID string
	err = tx.QueryRowContext(ctx, "SELECT order_id FROM orders_outbox WHERE id = ?", entryID).Scan(&orderID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", ErrNotFound
	case err != nil:
		return "", fmt.Errorf("read entry: %w", err)
	case n == 0:
		return "", ErrLeaseLost
	}
	return orderID, nil
}

// deadLettersSQL reads the most recent dead letters through the partial
// index orders_outbox_dead_idx.
const deadLettersSQL = "SELECT " + entryColumns + " FROM orders_outbox WHERE state = 'dead' ORDER BY finished_at DESC, id DESC LIMIT ?"

// DeadLetters returns up to first dead letters (1 to MaxPageSize), most
// recently given up first, each with its order and reason, for operators.
func (s *SQLStore) DeadLetters(ctx context.Context, first int) ([]OutboxEntry, error) {
	if first < 1 || first > MaxPageSize {
		return nil, fmt.Errorf("orderstore: dead letters: %w",
			fieldError("first", fmt.Sprintf("must be between 1 and %d", MaxPageSize)))
	}
	var entries []OutboxEntry
	err := s.db.ReadTx(ctx, func(tx *db.Tx) error {
		var err error
		entries, err = selectEntries(ctx, tx, deadLettersSQL, first)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("orderstore: dead letters: %w", err)
	}
	return entries, nil
}

// Pending returns how many outbox entries are pending: due, backing off or
// claimed. Zero means every order placed has reached Order Management or
// been rejected.
func (s *SQLStore) Pending(ctx context.Context) (int, error) {
	n, err := s.count(ctx, "SELECT COUNT(*) FROM orders_outbox WHERE state = 'pending'")
	if err != nil {
		return 0, fmt.Errorf("orderstore: pending: %w", err)
	}
	return n, nil
}

// DeadLetterCount returns how many outbox entries are dead letters.
func (s *SQLStore) DeadLetterCount(ctx context.Context) (int, error) {
	n, err := s.count(ctx, "SELECT COUNT(*) FROM orders_outbox WHERE state = 'dead'")
	if err != nil {
		return 0, fmt.Errorf("orderstore: dead letter count: %w", err)
	}
	return n, nil
}

func (s *SQLStore) count(ctx context.Context, query string) (int, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, query).Scan(&n); err != nil {
		return 0, err
	}
	return int(n), nil
}

// selectEntries runs a SELECT of entryColumns and returns the entries in
// row order, each with its order.
func selectEntries(ctx context.Context, tx *db.Tx, query string, args ...any) ([]OutboxEntry, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("select entries: %w", err)
	}
	var entries []OutboxEntry
	for rows.Next() {
		var e OutboxEntry
		var state string
		var lockedBy sql.NullString
		var next, created db.Timestamp
		var lockedUntil, finished sql.Null[db.Timestamp]
		if err := rows.Scan(&e.ID, &e.OrderID, &state, &e.Attempts, &next, &lockedBy, &lockedUntil,
			&e.LastError, &e.DeadReason, &created, &finished); err != nil {
			rows.Close()
			return nil, fmt.Errorf("select entries: %w", err)
		}
		e.State = OutboxState(state)
		e.NextAttemptAt, e.CreatedAt = next.Time, created.Time
		e.LockedBy = lockedBy.String
		e.LockedUntil, e.FinishedAt = lockedUntil.V.Time, finished.V.Time
		entries = append(entries, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select entries: %w", err)
	}
	if len(entries) == 0 {
		return nil, nil
	}
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.OrderID
	}
	in, args := inList(ids)
	orders, err := selectOrders(ctx, tx, "SELECT "+orderColumns+" FROM orders_orders WHERE id IN ("+in+")", args...)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]Order, len(orders))
	for _, o := range orders {
		byID[o.ID] = o
	}
	for i := range entries {
		entries[i].Order = byID[entries[i].OrderID]
	}
	return entries, nil
}
