package cache

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisConfig configures a Redis store.
type RedisConfig struct {
	// Client is the connection to use, usually from OpenRedis; required.
	// The store does not close it.
	Client redis.UniversalClient
	// Prefix is put before every key, so the gateway's keys never meet
	// anything else on a shared server and can be found and removed as a
	// group; required (for example "meridian:lkg:").
	Prefix string
	// Now is the clock for StoredAt; nil means time.Now. Expiry is kept by
	// the Redis server's clock, not this one.
	Now func() time.Time
}

// Redis is a Store in a Redis server, shared by every gateway replica that
// uses the same server and prefix. Use NewRedis. It is safe for concurrent
// use.
//
// Each entry is one Redis string written with SET ... PX, so Redis expires
// it, and every Get and Set is one round trip. The string is a 9-byte header
// followed by the value: a format version byte, then StoredAt as big-endian
// unix milliseconds. A string with an unknown version is a miss, so replicas
// of different versions can share a server during a rolling deploy; a string
// too short to hold the header is an error.
//
// Errors are wrapped with a "cache: redis <op>:" context and never name the
// key, which may carry user data.
type Redis struct {
	client redis.UniversalClient
	prefix string
	now    func() time.Time
}

const (
	// redisFormat is the version byte of the stored header. Change it when
	// the layout changes; older replicas then read new entries as misses.
	redisFormat    = 1
	redisHeaderLen = 1 + 8
)

var _ Store = (*Redis)(nil)

// NewRedis returns a Redis store over cfg.Client. It returns an error if the
// client is nil or the prefix is empty. It does not contact the server; see
// OpenRedis for a checked connection.
func NewRedis(cfg RedisConfig) (*Redis, error) {
	if cfg.Client == nil {
		return nil, errors.New("cache: redis store needs a client")
	}
	if cfg.Prefix == "" {
		return nil, errors.New("cache: redis store needs a key prefix")
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Redis{client: cfg.Client, prefix: cfg.Prefix, now: now}, nil
}

// Get returns the entry under key. A missing or expired key, or one written
// in an unknown format version, returns ok=false and a nil error. The
// returned Value is a fresh slice, but callers must still treat it as
// read-only (see Entry).
func (r *Redis) Get(ctx context.Context, key string) (Entry, bool, error) {
	b, err := r.client.Get(ctx, r.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("cache: redis get: %w", err)
	}
	if len(b) < redisHeaderLen {
		return Entry{}, false, fmt.Errorf("cache: redis get: malformed entry (%d bytes, want at least %d)", len(b), redisHeaderLen)
	}
	if b[0] != redisFormat {
		return Entry{}, false, nil
	}
	storedAt := time.UnixMilli(int64(binary.BigEndian.Uint64(b[1:redisHeaderLen])))
	// Three-index slice so an append by the caller cannot run into memory
	// it does not own (there is none past the end here, but the contract is
	// the same for every Store).
	v := b[redisHeaderLen:len(b):len(b)]
	return Entry{Value: v, StoredAt: storedAt}, true, nil
}

// Set stores value under key with SET PX ttl. The ttl is rounded up to whole
// milliseconds, the server's resolution; a ttl <= 0 is an error.
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := checkTTL(ttl); err != nil {
		return err
	}
	px := int64((ttl + time.Millisecond - 1) / time.Millisecond)
	b := make([]byte, redisHeaderLen+len(value))
	b[0] = redisFormat
	binary.BigEndian.PutUint64(b[1:redisHeaderLen], uint64(r.now().UnixMilli()))
	copy(b[redisHeaderLen:], value)
	if err := r.client.Do(ctx, "set", r.prefix+key, b, "px", px).Err(); err != nil {
		return fmt.Errorf("cache: redis set: %w", err)
	}
	return nil
}

// Delete removes the entries under keys with UNLINK, which frees large values
// off the server's main thread. Missing keys are ignored.
func (r *Redis) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = r.prefix + k
	}
	var err error
	if _, single := r.client.(*redis.Client); single || len(full) == 1 {
		err = r.client.Unlink(ctx, full...).Err()
	} else {
		// A cluster or ring spreads keys over servers, and one multi-key
		// UNLINK would fail (cluster) or miss keys (ring). A pipeline of
		// single-key UNLINKs is still one round trip per server.
		_, err = r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range full {
				p.Unlink(ctx, k)
			}
			return nil
		})
	}
	if err != nil {
		return fmt.Errorf("cache: redis delete: %w", err)
	}
	return nil
}

// Connection defaults applied by OpenRedis unless the URL sets them. The
// cache answers in front of origins that already take hundreds of
// milliseconds across the border link; a cache call that waits longer than
// that has lost its point, so it fails fast and the caller goes to the
// origin or serves what it has.
const (
	redisDialTimeout  = 2 * time.Second
	redisIOTimeout    = 500 * time.Millisecond
	redisPoolTimeout  = 500 * time.Millisecond
	redisMaxRetries   = 1
	redisDialAttempts = 1
)

// OpenRedis connects to the Redis server at rawURL (redis://[user:password@]host:port/db
// or rediss:// for TLS; go-redis query options such as dial_timeout are
// accepted), pings it once, and returns the client. The caller closes it.
//
// Unless the URL says otherwise it sets a 2s dial timeout, 500ms read and
// write timeouts, a 500ms wait for a pooled connection and one retry; it
// always makes one dial attempt per connection and honours ctx deadlines on
// every command. The ping is bounded by the dial plus read timeout.
//
// Errors name the server's host and port, never the password.
func OpenRedis(ctx context.Context, rawURL string) (redis.UniversalClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("cache: malformed redis URL: %s", urlErrorDetail(err))
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("cache: redis URL scheme %q: want redis://host:port/db or rediss://host:port/db", u.Scheme)
	}
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		// go-redis's messages here name the offending path or query
		// option, never the userinfo, and url.Parse already succeeded.
		return nil, fmt.Errorf("cache: redis URL for %s: %w", u.Host, err)
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = redisDialTimeout
	}
	if opts.ReadTimeout == 0 {
		opts.ReadTimeout = redisIOTimeout
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = redisIOTimeout
	}
	if opts.PoolTimeout == 0 {
		opts.PoolTimeout = redisPoolTimeout
	}
	if opts.MaxRetries == 0 {
		// go-redis's default of 3 retries, each up to the read timeout,
		// would turn a stalled server into a 2s cache call.
		opts.MaxRetries = redisMaxRetries
	}
	// go-redis otherwise dials up to five times per connection with backoff
	// in between, which is seconds against a blackholed host.
	opts.DialerRetries = redisDialAttempts
	// Let the request's deadline cut a cache call short too.
	opts.ContextTimeoutEnabled = true

	client := redis.NewClient(opts)
	pingCtx, cancel := context.WithTimeout(ctx, opts.DialTimeout+opts.ReadTimeout)
	defer cancel()
	if err := client.Ping(pingCtx).Err(); err != nil {
		_ = client.Close() // the ping error is the one worth reporting
		return nil, fmt.Errorf("cache: redis at %s: ping: %w", opts.Addr, err)
	}
	return client, nil
}

// urlErrorDetail describes a url.Parse failure without echoing the URL,
// which url.Error carries in full, password included.
func urlErrorDetail(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ee url.EscapeError
	if errors.As(err, &ee) {
		// The bad escape may sit inside the password.
		return "invalid percent-escape (is a special character in the password unescaped?)"
	}
	return err.Error()
}
