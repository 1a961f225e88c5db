package lease

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// MinRedisTTL is the shortest ttl NewRedis accepts. The lease is renewed
// every third of the ttl, and each renewal must fit a round trip to Redis
// with room to spare.
const MinRedisTTL = 100 * time.Millisecond

// Redis is a Lease made of Redis keys, for gateway replicas sharing a Redis
// server. Use NewRedis. It is safe for concurrent use.
//
// The lease called name is the key prefix+name, set with SET NX PX to a
// random token that identifies the holder. While held, a goroutine renews
// the key's ttl every ttl/3, only if it still holds this holder's token; a
// renewal that fails, takes longer than ttl/3 or finds the key gone or
// another token closes Lost. So Lost closes at most about two thirds of a
// ttl after the last good renewal, before the key can expire, unless the
// process itself stalls (see the package documentation). Release deletes
// the key only if it still holds the token, so a runner whose lease already
// passed to another never frees the other's.
//
// If the runner crashes, renewals stop and the key expires after at most
// ttl: a crashed runner's lease is free again within ttl. Choose ttl as the
// longest a job may stall after a crash: a shorter ttl frees a crashed lease
// sooner but costs a renewal more often.
//
// Only single-key commands and scripts are used, so a cluster client works.
type Redis struct {
	client  redis.UniversalClient
	prefix  string
	ttl     time.Duration
	renew   *redis.Script
	release *redis.Script
}

var _ Lease = (*Redis)(nil)

// Both scripts act only if the key still holds the caller's token: a holder
// whose lease has passed to another must neither extend nor free it.
const (
	renewScript = `if redis.call("get", KEYS[1]) == ARGV[1] then
	return redis.call("pexpire", KEYS[1], ARGV[2])
end
return 0`
	releaseScript = `if redis.call("get", KEYS[1]) == ARGV[1] then
	return redis.call("del", KEYS[1])
end
return 0`
)

// NewRedis returns a Redis lease over client, which it does not close,
// putting prefix before every lease name (for example "meridian:lease:").
// client must not be nil, prefix not empty and ttl at least MinRedisTTL; ttl
// is rounded up to whole milliseconds. It does not contact the server.
//
// The client must let context deadlines cut commands short, as the clients
// from cache.OpenRedis do (go-redis's ContextTimeoutEnabled): renewals rely
// on a ttl/3 deadline to notice a hung server while the key is still theirs,
// and without it a renewal waits for the client's read timeout instead.
func NewRedis(client redis.UniversalClient, prefix string, ttl time.Duration) (*Redis, error) {
	if client == nil {
		return nil, errors.New("lease: redis lease needs a client")
	}
	if prefix == "" {
		return nil, errors.New("lease: redis lease needs a key prefix")
	}
	if ttl < MinRedisTTL {
		return nil, fmt.Errorf("lease: redis lease ttl %s, want at least %s", ttl, MinRedisTTL)
	}
	return &Redis{
		client:  client,
		prefix:  prefix,
		ttl:     (ttl + time.Millisecond - 1).Truncate(time.Millisecond),
		renew:   redis.NewScript(renewScript),
		release: redis.NewScript(releaseScript),
	}, nil
}

// TryAcquire implements Lease with one SET NX PX.
//
// If that command fails, the key may or may not have been set; TryAcquire
// then tries once, with a fresh short deadline, to delete it if it holds
// this attempt's token, so that a failed attempt does not block the lease
// for a whole ttl. If that cleanup fails too the key expires after ttl.
func (r *Redis) TryAcquire(ctx context.Context, name string) (Held, bool, error) {
	if err := checkAcquire(ctx, name); err != nil {
		return nil, false, err
	}
	token, err := newToken()
	if err != nil {
		return nil, false, fmt.Errorf("lease: redis %q: %w", name, err)
	}
	key := r.prefix + name
	set, err := r.client.SetNX(ctx, key, token, r.ttl).Result()
	if err != nil {
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.ttl/3)
		_ = r.release.Run(cleanup, r.client, []string{key}, token).Err()
		cancel()
		return nil, false, fmt.Errorf("lease: redis %q: set: %w", name, err)
	}
	if !set {
		return nil, false, nil
	}
	h := &redisHeld{
		r:     r,
		name:  name,
		key:   key,
		token: token,
		lost:  newSignal(),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go h.renewLoop()
	return h, true, nil
}

// newToken returns 128 random bits in hex: unguessable and, in practice,
// never the same for two holders.
func newToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

type redisHeld struct {
	r     *Redis
	name  string
	key   string
	token string
	lost  *signal

	stopOnce sync.Once
	stop     chan struct{} // closed to end renewLoop
	done     chan struct{} // closed when renewLoop has returned

	releaseOnce sync.Once
}

// renewLoop extends the key's ttl every ttl/3 until stopped, and closes
// Lost and returns at the first renewal that does not succeed.
func (h *redisHeld) renewLoop() {
	defer close(h.done)
	every := h.r.ttl / 3
	t := time.NewTicker(every)
	defer t.Stop()
	ttlMillis := h.r.ttl.Milliseconds()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		// Bounded by ttl/3 so that a hung server is noticed while the
		// key is still ours: the last good renewal keeps it for ttl.
		ctx, cancel := context.WithTimeout(context.Background(), every)
		n, err := h.r.renew.Run(ctx, h.r.client, []string{h.key}, h.token, ttlMillis).Int()
		cancel()
		if err != nil || n != 1 {
			h.lost.close()
			return
		}
	}
}

// stopRenewal ends renewLoop and waits for it, letting a renewal in flight
// finish (at most ttl/3).
func (h *redisHeld) stopRenewal() {
	h.stopOnce.Do(func() { close(h.stop) })
	<-h.done
}

// Release implements Held. It stops renewing and deletes the key if it
// still holds this holder's token. An error means Redis could not be told;
// the key then expires by itself within ttl. Releasing a lease that was
// lost, expired or taken by another returns nil and leaves the key alone.
func (h *redisHeld) Release(ctx context.Context) error {
	var err error
	h.releaseOnce.Do(func() {
		h.stopRenewal()
		defer h.lost.close()
		if rerr := h.r.release.Run(ctx, h.r.client, []string{h.key}, h.token).Err(); rerr != nil {
			err = fmt.Errorf("lease: redis %q: release (the key expires within %s): %w", h.name, h.r.ttl, rerr)
		}
	})
	return err
}

func (h *redisHeld) Lost() <-chan struct{} { return h.lost.ch }
