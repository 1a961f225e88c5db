package webhook

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ReplayStore remembers which signatures a Verifier has accepted.
//
// Seen records key for ttl and reports whether it was already recorded and
// unexpired; check and record are one atomic step, so of two concurrent
// calls with the same key exactly one gets alreadySeen=false. ttl is
// positive. On error the key's state is unknown, and the Verifier refuses
// the request.
type ReplayStore interface {
	Seen(ctx context.Context, key string, ttl time.Duration) (alreadySeen bool, err error)
}

// ReplayForgetter is implemented by a ReplayStore that can drop a key it
// recorded, which lets Verifier.Forget accept the retry of a request whose
// processing failed. Forget of a key not recorded is not an error. Both
// stores of this package implement it.
type ReplayForgetter interface {
	Forget(ctx context.Context, key string) error
}

var (
	_ ReplayForgetter = (*MemoryReplays)(nil)
	_ ReplayForgetter = (*RedisReplays)(nil)
	_ ReplayStore     = (*MemoryReplays)(nil)
	_ ReplayStore     = (*RedisReplays)(nil)
)

// MemoryReplays is a ReplayStore in process memory, for a gateway that runs
// as a single process. Use NewMemoryReplays. It is safe for concurrent use.
//
// It holds at most a fixed number of keys. When full it forgets the oldest
// key first, even if unexpired, so memory stays bounded; a replay of a
// forgotten signature is then accepted. Only requests made with a shared
// secret reach the store (see Verifier.Verify), so size it above the number
// of webhooks expected within twice the verifier's MaxAge.
type MemoryReplays struct {
	mu    sync.Mutex
	max   int
	now   func() time.Time
	order *list.List // of *replayEntry, oldest recorded first
	index map[string]*list.Element
}

type replayEntry struct {
	key     string
	expires time.Time
}

// NewMemoryReplays returns an empty MemoryReplays that holds at most max
// keys; max must be positive.
func NewMemoryReplays(max int) (*MemoryReplays, error) {
	if max <= 0 {
		return nil, fmt.Errorf("webhook: memory replay store size %d, want at least 1", max)
	}
	return &MemoryReplays{max: max, now: time.Now, order: list.New(), index: make(map[string]*list.Element)}, nil
}

// Seen implements ReplayStore. It never fails except for a ttl <= 0.
//
// Expired keys at the old end are dropped on every call. An expired key
// recorded behind one that expires later (only possible with mixed ttls)
// stays until it reaches that end, is looked up, or is evicted, and counts
// towards the bound meanwhile.
func (m *MemoryReplays) Seen(_ context.Context, key string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("webhook: replay ttl %s, want > 0", ttl)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for e := m.order.Front(); e != nil && !now.Before(e.Value.(*replayEntry).expires); e = m.order.Front() {
		m.remove(e)
	}
	if e, ok := m.index[key]; ok {
		if now.Before(e.Value.(*replayEntry).expires) {
			return true, nil
		}
		m.remove(e)
	}
	for m.order.Len() >= m.max {
		m.remove(m.order.Front())
	}
	m.index[key] = m.order.PushBack(&replayEntry{key: key, expires: now.Add(ttl)})
	return false, nil
}

// Forget implements ReplayForgetter; it never fails.
func (m *MemoryReplays) Forget(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.index[key]; ok {
		m.remove(e)
	}
	return nil
}

func (m *MemoryReplays) remove(e *list.Element) {
	delete(m.index, m.order.Remove(e).(*replayEntry).key)
}

// RedisReplays is a ReplayStore in Redis, shared by every gateway replica
// using the same server and prefix, so a webhook accepted by one replica is
// refused by all. Use NewRedisReplays. It is safe for concurrent use.
//
// Each key is one Redis string written with SET NX PX, so the check and the
// record are one atomic command and Redis expires the key. Errors are
// wrapped with a "webhook: redis replay check:" context.
type RedisReplays struct {
	client redis.UniversalClient
	prefix string
}

// NewRedisReplays returns a RedisReplays over client, which it does not
// close, putting prefix before every key (for example
// "meridian:webhook:seen:"). client must not be nil and prefix not empty. It
// does not contact the server.
func NewRedisReplays(client redis.UniversalClient, prefix string) (*RedisReplays, error) {
	if client == nil {
		return nil, errors.New("webhook: redis replay store needs a client")
	}
	if prefix == "" {
		return nil, errors.New("webhook: redis replay store needs a key prefix")
	}
	return &RedisReplays{client: client, prefix: prefix}, nil
}

// Seen implements ReplayStore. The ttl is rounded up to whole milliseconds,
// the server's resolution; a ttl <= 0 is an error.
func (r *RedisReplays) Seen(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("webhook: replay ttl %s, want > 0", ttl)
	}
	ttl = (ttl + time.Millisecond - 1).Truncate(time.Millisecond)
	set, err := r.client.SetNX(ctx, r.prefix+key, 1, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("webhook: redis replay check: %w", err)
	}
	return !set, nil
}

// Forget implements ReplayForgetter with one DEL.
func (r *RedisReplays) Forget(ctx context.Context, key string) error {
	if err := r.client.Del(ctx, r.prefix+key).Err(); err != nil {
		return fmt.Errorf("webhook: redis replay forget: %w", err)
	}
	return nil
}
