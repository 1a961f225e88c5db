package respcache

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Purge removes every entry tagged with one of tags: on this replica at
// once, and, with Redis configured, in the shared tier and on every other
// replica. Call it after the data behind those tags changed (the sync
// jobs' OnChange). Empty tags are ignored; no tags is a no-op.
//
// On this replica the purge is complete when Purge returns, including
// executions still in flight: a response whose execution began before the
// purge is neither stored nor, if another replica stored it, served here.
//
// Other replicas learn of it over Redis pub/sub, which is at-most-once: a
// replica that is disconnected when the message is published never sees
// it. That replica drops all its in-process entries when its subscription
// is re-established, so a lost message costs at most the time until the
// reconnect is noticed, and in the worst case (a message lost on a
// connection that never failed) the entries' own lifetime, max-age plus
// the stale-while-revalidate window. Shared entries do not depend on the
// message: Purge deletes them itself through the per-tag sets of keys.
//
// The returned error joins the failures of the shared tier and of
// publishing; the local purge always happens. Retrying a failed Purge is
// safe.
func (c *Cache) Purge(ctx context.Context, tags ...string) error {
	tags = cleanTags(tags)
	if len(tags) == 0 {
		return nil
	}
	c.purges.record(tags, c.now())
	local := c.front.purge(tags)
	inc(c.localPurges)
	if c.redis == nil {
		return nil
	}
	var errs []error
	if c.shared != nil {
		keys := make([]string, 0, len(local))
		for _, k := range local {
			keys = append(keys, hex.EncodeToString(k[:]))
		}
		members, err := c.takeTagSets(ctx, tags)
		if err != nil {
			errs = append(errs, err)
		}
		keys = append(keys, members...)
		slices.Sort(keys)
		keys = slices.Compact(keys)
		if len(keys) > 0 {
			if err := c.shared.Delete(ctx, keys...); err != nil {
				errs = append(errs, err)
			}
		}
	}
	// After the shared entries are gone, so a replica that drops its copy
	// on the message cannot read the old one back.
	msg, _ := json.Marshal(purgeMessage{From: c.instance, Tags: tags})
	if err := c.redis.Publish(ctx, c.channel, msg).Err(); err != nil {
		errs = append(errs, fmt.Errorf("respcache: publish purge: %w", err))
	}
	return errors.Join(errs...)
}

// cleanTags drops empty tags and duplicates.
func cleanTags(tags []string) []string {
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		if t != "" {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// purgeMessage is what travels on the purge channel.
type purgeMessage struct {
	From string   `json:"from"` // the publishing Cache, which already purged
	Tags []string `json:"tags"`
}

// takeTagSetScript reads and deletes a tag's set of shared keys in one
// step, so a key added concurrently for a newer entry lands in a fresh set
// instead of being dropped unread.
const takeTagSetScript = `
local members = redis.call('SMEMBERS', KEYS[1])
redis.call('DEL', KEYS[1])
return members
`

// addToTagSetScript adds a shared key to a tag's set and makes the set
// live at least as long as the entry (never shorter than it already does,
// since older entries in it may live longer).
const addToTagSetScript = `
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`

// takeTagSets empties the sets of tags and returns their members. Each
// set is its own script call (one key each), so it works on a cluster.
func (c *Cache) takeTagSets(ctx context.Context, tags []string) ([]string, error) {
	cmds := make([]*redis.Cmd, len(tags))
	_, err := c.redis.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, t := range tags {
			cmds[i] = p.Eval(ctx, takeTagSetScript, []string{c.tagPrefix + t})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("respcache: read tag sets: %w", err)
	}
	var members []string
	for _, cmd := range cmds {
		m, err := cmd.StringSlice()
		if err != nil {
			return members, fmt.Errorf("respcache: read tag set: %w", err)
		}
		members = append(members, m...)
	}
	return members, nil
}

// indexShared adds a shared key to the set of each of its tags.
func (c *Cache) indexShared(ctx context.Context, hexKey string, tags []string, ttl time.Duration) error {
	if len(tags) == 0 {
		return nil
	}
	// A second more than the entry: the set must not expire first.
	px := strconv.FormatInt(int64((ttl+time.Second)/time.Millisecond), 10)
	_, err := c.redis.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, t := range tags {
			p.Eval(ctx, addToTagSetScript, []string{c.tagPrefix + t}, hexKey, px)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("respcache: write tag sets: %w", err)
	}
	return nil
}

// subscribe starts listening on the purge channel and waits a little for
// the subscription to be confirmed.
func (c *Cache) subscribe() {
	c.pubsub = c.redis.Subscribe(c.ctx, c.channel)
	// ChannelWithSubscriptions reconnects and resubscribes on its own, and
	// its health check pings an idle connection, so a dead one is noticed
	// and replaced; each resubscription arrives as a *redis.Subscription.
	ch := c.pubsub.ChannelWithSubscriptions(redis.WithChannelHealthCheckInterval(5 * time.Second))
	ready := make(chan struct{})
	c.goBackground(func() { c.listen(ch, ready) })
	select {
	case <-ready:
	case <-time.After(subscribeWait):
		c.log.Warn("response cache: purge subscription not confirmed yet; purges from other replicas are missed until it is",
			"channel", c.channel)
	}
}

// listen applies purges announced by other replicas until the
// subscription is closed.
func (c *Cache) listen(ch <-chan any, ready chan struct{}) {
	confirmed := false
	for msg := range ch {
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind != "subscribe" {
				continue
			}
			if !confirmed {
				confirmed = true
				close(ready)
			}
			// Whatever was stored before this (re)subscription may have
			// missed a purge while nobody listened. Nothing was at the
			// first one of a fresh Cache, unless it took long to come.
			if c.front.everStored() {
				c.purges.recordAll(c.now())
				c.front.clear()
				c.log.Warn("response cache: purge subscription (re)established; in-process entries dropped", "channel", c.channel)
			}
		case *redis.Message:
			c.applyRemote(m.Payload)
		}
	}
	if !confirmed {
		close(ready)
	}
}

// applyRemote purges what another replica announced.
func (c *Cache) applyRemote(payload string) {
	var msg purgeMessage
	if err := json.Unmarshal([]byte(payload), &msg); err != nil {
		c.log.Warn("response cache: malformed purge message ignored", "err", err)
		return
	}
	if msg.From == c.instance {
		return // this Cache purged before publishing
	}
	tags := cleanTags(msg.Tags)
	if len(tags) == 0 {
		return
	}
	c.purges.record(tags, c.now())
	c.front.purge(tags)
	inc(c.remotePurges)
}
