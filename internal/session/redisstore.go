package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisStore is a Store in Redis, shared by every replica that uses the
// same server and prefix. Use NewRedisStore. It is safe for concurrent use.
//
// Each session is one Redis string under prefix + key, written with SET ...
// PX so that Redis itself expires it: there is nothing to purge. The TTL is
// the time from the store's clock to the expiry, rounded up to whole
// milliseconds; from then on the server's clock rules.
//
// Errors are wrapped with a "session: redis <op>:" context and never name
// the key.
type RedisStore struct {
	client redis.UniversalClient
	prefix string
	now    func() time.Time
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore returns a store over client that puts prefix (required,
// such as "meridian:session:") before every key. It does not contact the
// server (see cache.OpenRedis for a checked connection) and does not close
// client.
func NewRedisStore(client redis.UniversalClient, prefix string, opts ...StoreOption) (*RedisStore, error) {
	if client == nil {
		return nil, errors.New("session: redis store needs a client")
	}
	if prefix == "" {
		return nil, errors.New("session: redis store needs a key prefix")
	}
	o := applyStoreOptions(opts)
	return &RedisStore{client: client, prefix: prefix, now: o.now}, nil
}

// Get implements Store.
func (s *RedisStore) Get(ctx context.Context, key string) ([]byte, bool, error) {
	b, err := s.client.Get(ctx, s.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("session: redis get: %w", err)
	}
	return b, true, nil
}

// Put implements Store with SET PX.
func (s *RedisStore) Put(ctx context.Context, key string, value []byte, expires time.Time) error {
	px, live := s.ttlMillis(expires)
	if !live {
		return s.Delete(ctx, key)
	}
	if err := s.client.Do(ctx, "set", s.prefix+key, value, "px", px).Err(); err != nil {
		return fmt.Errorf("session: redis put: %w", err)
	}
	return nil
}

// Update implements Store with SET PX XX, which writes only over a key
// that exists; an expired key no longer does.
func (s *RedisStore) Update(ctx context.Context, key string, value []byte, expires time.Time) (bool, error) {
	px, live := s.ttlMillis(expires)
	if !live {
		return false, s.Delete(ctx, key)
	}
	err := s.client.Do(ctx, "set", s.prefix+key, value, "px", px, "xx").Err()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("session: redis update: %w", err)
	}
	return true, nil
}

// Delete implements Store with UNLINK.
func (s *RedisStore) Delete(ctx context.Context, key string) error {
	if err := s.client.Unlink(ctx, s.prefix+key).Err(); err != nil {
		return fmt.Errorf("session: redis delete: %w", err)
	}
	return nil
}

// ttlMillis is the time left until expires, rounded up to milliseconds, and
// whether any is left.
func (s *RedisStore) ttlMillis(expires time.Time) (int64, bool) {
	ttl := expires.Sub(s.now())
	if ttl <= 0 {
		return 0, false
	}
	return int64((ttl + time.Millisecond - 1) / time.Millisecond), true
}
