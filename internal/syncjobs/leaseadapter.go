package syncjobs

import (
	"context"

	"meridian/internal/lease"
)

// FromLease adapts an internal/lease Lease (PostgreSQL advisory lock,
// Redis, or in-process) to the runner, passing on loss so a run stops when
// another replica could take the job over. namePrefix is put before every
// lease name; it is empty in serving and unique per test, since advisory
// locks are database-wide.
func FromLease(l lease.Lease, namePrefix string) LeaseWithLoss {
	return leaseAdapter{l: l, prefix: namePrefix}
}

type leaseAdapter struct {
	l      lease.Lease
	prefix string
}

func (a leaseAdapter) TryAcquireWithLoss(ctx context.Context, name string) (func(context.Context) error, <-chan struct{}, bool, error) {
	h, ok, err := a.l.TryAcquire(ctx, a.prefix+name)
	if err != nil || !ok {
		return nil, nil, ok, err
	}
	return h.Release, h.Lost(), true, nil
}

func (a leaseAdapter) TryAcquire(ctx context.Context, name string) (func(context.Context) error, bool, error) {
	release, _, ok, err := a.TryAcquireWithLoss(ctx, name)
	return release, ok, err
}
