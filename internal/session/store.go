package session

import (
	"context"
	"time"
)

// Store keeps sessions server-side. Values are opaque to it: Manager hands
// it sealed bytes (see the package documentation for their layout) and a key
// derived from the session id, never the id itself, so neither a store's
// contents nor its logs hold a live cookie or a readable token.
//
// Every method is safe for concurrent use. Expiry is absolute: a value whose
// expiry has passed is gone for Get and Update whether or not the store has
// removed it yet. Manager also checks a session's lifetimes itself, so a
// store whose clock drifts a little can only keep dead rows around longer,
// never extend a session.
type Store interface {
	// Get returns the value stored under key, or ok=false (and a nil
	// error) when there is none or it has expired. The returned slice
	// belongs to the caller.
	Get(ctx context.Context, key string) (value []byte, ok bool, err error)
	// Put stores value under key until expires, replacing whatever was
	// there. An expires that is not in the future leaves nothing stored
	// under key.
	Put(ctx context.Context, key string, value []byte, expires time.Time) error
	// Update replaces the value under key and its expiry, but only when
	// a live value is stored there, and reports whether it did. Renewals
	// use it so that a session signed out while its tokens were being
	// refreshed stays signed out instead of being written back.
	Update(ctx context.Context, key string, value []byte, expires time.Time) (bool, error)
	// Delete removes the value under key. A missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// StoreOption adjusts NewSQLStore and NewRedisStore.
type StoreOption func(*storeOptions)

type storeOptions struct {
	now func() time.Time
}

// WithStoreClock sets the clock a store judges expiry by. Nil, or no
// option, means time.Now. Give a store the Manager's clock when that clock
// is not the wall clock (tests), or live sessions read as expired.
func WithStoreClock(now func() time.Time) StoreOption {
	return func(o *storeOptions) {
		if now != nil {
			o.now = now
		}
	}
}

func applyStoreOptions(opts []StoreOption) storeOptions {
	o := storeOptions{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}
