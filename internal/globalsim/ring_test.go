package globalsim

import (
	"slices"
	"testing"
)

func TestRingKeepsTheLastValuesAcrossResets(t *testing.T) {
	r := newRing[int](3)
	for v := range 7 {
		r.push(v)
	}
	if got, want := r.slice(r.oldest(), 10), []int{4, 5, 6}; !slices.Equal(got, want) {
		t.Errorf("after 7 pushes: got %v, want %v", got, want)
	}
	r.reset()
	if r.oldest() != 7 || len(r.slice(r.oldest(), 10)) != 0 {
		t.Errorf("after reset: oldest %d, values %v; want 7 and none", r.oldest(), r.slice(r.oldest(), 10))
	}
	// Pushes after a reset land where at() looks for them, whatever the
	// sequence number is modulo the size.
	for v := 10; v < 12; v++ {
		r.push(v)
	}
	if got, want := r.slice(r.oldest(), 10), []int{10, 11}; !slices.Equal(got, want) {
		t.Errorf("after reset and 2 pushes: got %v, want %v", got, want)
	}
	if seq := r.oldest(); r.at(seq) != 10 {
		t.Errorf("at(%d) = %d, want 10", seq, r.at(seq))
	}
}
