package globalsim

// ring keeps the last size values pushed, each addressed by its sequence
// number (0 for the first value ever pushed). It is what bounds the change
// feeds and the request log in memory. It is not safe for concurrent use;
// its owner locks.
type ring[T any] struct {
	buf   []T // allocated at the first push; slot seq%size holds seq
	size  int
	count int   // values held, at most size
	next  int64 // sequence number the next push gets
}

func newRing[T any](size int) *ring[T] {
	return &ring[T]{size: size}
}

func (r *ring[T]) push(v T) int64 {
	if r.buf == nil {
		r.buf = make([]T, r.size)
	}
	seq := r.next
	r.buf[seq%int64(r.size)] = v
	r.next++
	r.count = min(r.count+1, r.size)
	return seq
}

// oldest is the sequence number of the oldest value still held; it equals
// next when the ring is empty.
func (r *ring[T]) oldest() int64 { return r.next - int64(r.count) }

// at returns the value with sequence number seq, which must lie in
// [oldest, next).
func (r *ring[T]) at(seq int64) T { return r.buf[seq%int64(r.size)] }

// slice returns up to limit values starting at sequence number from, which
// must lie in [oldest, next].
func (r *ring[T]) slice(from int64, limit int) []T {
	out := make([]T, 0, min(int64(limit), r.next-from))
	for seq := from; seq < r.next && len(out) < limit; seq++ {
		out = append(out, r.at(seq))
	}
	return out
}

// reset forgets every value; sequence numbers keep counting so that nothing
// handed out before is ever reused.
func (r *ring[T]) reset() { r.buf, r.count = nil, 0 }
