package orderstore

import (
	"crypto/rand"
	"fmt"
	"sync"
	"time"
)

// crockford is the ULID alphabet: Crockford's base32, without I, L, O, U.
// Its characters sort in the order of the values they encode, so ids sort
// by creation time as text, on both engines.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// ulids makes ULIDs: 48 bits of milliseconds since the Unix epoch, then 80
// random bits. Within one process they are strictly increasing: a second
// id in the same millisecond (or after the clock stepped back) is the
// previous one plus one, so "newest first" holds for orders placed in a
// burst. Across replicas the random bits keep them unique.
type ulids struct {
	mu   sync.Mutex
	last [16]byte
}

// next returns a new 26-character ULID for time now.
func (u *ulids) next(now time.Time) (string, error) {
	var id [16]byte
	ms := uint64(now.UnixMilli())
	if ms >= 1<<48 {
		return "", fmt.Errorf("id: time %v is beyond the ULID range", now)
	}
	for i := range 6 {
		id[i] = byte(ms >> (40 - 8*i))
	}
	if _, err := rand.Read(id[6:]); err != nil {
		return "", fmt.Errorf("id: %w", err)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if compare(id[:6], u.last[:6]) <= 0 {
		// Same millisecond, or the clock went back: continue from the
		// last id so the order holds.
		id = u.last
		for i := 15; i >= 0; i-- {
			id[i]++
			if id[i] != 0 {
				break
			}
		}
	}
	u.last = id
	return encode(id), nil
}

func compare(a, b []byte) int {
	for i := range a {
		switch {
		case a[i] < b[i]:
			return -1
		case a[i] > b[i]:
			return 1
		}
	}
	return 0
}

// encode writes 128 bits as 26 base32 characters, most significant first;
// the first character carries the top 3 bits.
func encode(id [16]byte) string {
	var out [26]byte
	// Take 5 bits at a time from the right end of the 130-bit (two zero
	// bits on top) big-endian number.
	for i := 25; i >= 0; i-- {
		bit := (25 - i) * 5 // offset of the group from the least significant bit
		byteIdx, shift := 15-bit/8, bit%8
		v := uint16(id[byteIdx]) >> shift
		if byteIdx > 0 {
			v |= uint16(id[byteIdx-1]) << (8 - shift)
		}
		out[i] = crockford[v&31]
	}
	return string(out[:])
}
