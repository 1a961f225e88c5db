package cache

import (
	"context"
	"fmt"
	"time"
)

// DegradedError reports that a tiered store's back store failed while its
// front did its part. Tiered operations return it (find it with errors.As)
// so the caller can log the failure and carry on:
//
//   - Get: the result is a clean miss; go to the origin.
//   - Set: the value is in this replica's front but not shared with the
//     others.
//   - Delete: the front entry is gone, but the back entry may survive and
//     be read back into a front later. Callers that invalidate for
//     correctness should retry the Delete.
type DegradedError struct {
	// Op is "get", "set" or "delete".
	Op string
	// Err is the back store's error.
	Err error
}

// Error describes the operation and the back store's failure.
func (e *DegradedError) Error() string {
	return fmt.Sprintf("cache: tiered %s: back store failed: %v", e.Op, e.Err)
}

// Unwrap returns the back store's error.
func (e *DegradedError) Unwrap() error { return e.Err }

// tiered is the Store NewTiered returns.
type tiered struct {
	front    *Memory
	back     Store
	frontTTL time.Duration
}

var _ Store = (*tiered)(nil)

// NewTiered returns a Store that keeps a Memory front over a shared back
// store (normally Redis), so hot keys are answered in process.
//
//   - Get tries the front, then the back. A back hit fills the front for
//     frontTTL, keeping the entry's StoredAt (the front is a *Memory so it
//     can). A back error is a miss, returned as a *DegradedError.
//   - Set writes the back, then the front for min(ttl, frontTTL). A back
//     failure still leaves the front written and returns a *DegradedError.
//   - Delete deletes from the back, then from the front (always, even if
//     the back failed, which returns a *DegradedError).
//
// frontTTL bounds staleness: after another replica's Set or Delete, or after
// the back entry expires, a front may serve the old value for up to
// frontTTL, because a fill does not know how long the back entry had left.
// Keep it short (seconds). NewTiered panics if front or back is nil or
// frontTTL is not positive: these are wiring mistakes, caught at start-up.
func NewTiered(front *Memory, back Store, frontTTL time.Duration) Store {
	if front == nil || back == nil {
		panic("cache: NewTiered needs a front and a back store")
	}
	if frontTTL <= 0 {
		panic(fmt.Sprintf("cache: NewTiered frontTTL must be positive, got %v", frontTTL))
	}
	return &tiered{front: front, back: back, frontTTL: frontTTL}
}

func (t *tiered) Get(ctx context.Context, key string) (Entry, bool, error) {
	if e, ok, _ := t.front.Get(ctx, key); ok { // Memory.Get never fails
		return e, true, nil
	}
	e, ok, err := t.back.Get(ctx, key)
	if err != nil {
		return Entry{}, false, &DegradedError{Op: "get", Err: err}
	}
	if !ok {
		return Entry{}, false, nil
	}
	// No copy: the front and the caller share the value under the
	// read-only contract, like any Memory hit.
	t.front.put(key, e.Value, e.StoredAt, t.front.now().Add(t.frontTTL))
	return e, true, nil
}

func (t *tiered) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := checkTTL(ttl); err != nil {
		return err
	}
	// Back first: a concurrent Get that fills the front from the old back
	// entry between the two writes is then overwritten by the front write.
	backErr := t.back.Set(ctx, key, value, ttl)
	if err := t.front.Set(ctx, key, value, min(ttl, t.frontTTL)); err != nil {
		return err
	}
	if backErr != nil {
		return &DegradedError{Op: "set", Err: backErr}
	}
	return nil
}

func (t *tiered) Delete(ctx context.Context, keys ...string) error {
	// Back first, so a concurrent Get cannot refill the front from a back
	// entry that is about to go.
	backErr := t.back.Delete(ctx, keys...)
	if err := t.front.Delete(ctx, keys...); err != nil {
		return err
	}
	if backErr != nil {
		return &DegradedError{Op: "delete", Err: backErr}
	}
	return nil
}
