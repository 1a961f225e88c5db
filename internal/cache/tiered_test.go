package cache

import (
	"context"
	"errors"
	"testing"
	"time"
)

// brokenStore fails every call, like a Redis server that has gone away.
type brokenStore struct{ err error }

func (b brokenStore) Get(context.Context, string) (Entry, bool, error) { return Entry{}, false, b.err }
func (b brokenStore) Set(context.Context, string, []byte, time.Duration) error {
	return b.err
}
func (b brokenStore) Delete(context.Context, ...string) error { return b.err }

func TestTieredFillsFrontKeepingStoredAt(t *testing.T) {
	ctx := context.Background()
	c := newFakeClock()
	front, back := newTestMemory(t, c.Now), newTestMemory(t, c.Now)
	s := NewTiered(front, back, 5*time.Second)

	stored := c.Now()
	if err := back.Set(ctx, "k", []byte("shared"), time.Hour); err != nil { // as another replica would
		t.Fatal(err)
	}
	c.Advance(time.Minute)
	e, ok, err := s.Get(ctx, "k")
	if err != nil || !ok || string(e.Value) != "shared" || !e.StoredAt.Equal(stored) {
		t.Fatalf("Get = %+v, %v, %v; want the back entry", e, ok, err)
	}
	fe, ok, _ := front.Get(ctx, "k")
	if !ok || !fe.StoredAt.Equal(stored) {
		t.Fatalf("front after fill = %+v, %v; want the entry with its original StoredAt", fe, ok)
	}
	// The fill lasts frontTTL.
	c.Advance(5 * time.Second)
	if _, ok, _ := front.Get(ctx, "k"); ok {
		t.Error("front fill outlived frontTTL")
	}
}

func TestTieredSetCapsFrontTTL(t *testing.T) {
	ctx := context.Background()
	c := newFakeClock()
	front, back := newTestMemory(t, c.Now), newTestMemory(t, c.Now)
	s := NewTiered(front, back, 5*time.Second)
	if err := s.Set(ctx, "long", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "short", []byte("v"), time.Second); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Second)
	if _, ok, _ := front.Get(ctx, "short"); ok {
		t.Error("front kept an entry past its own ttl")
	}
	if _, ok, _ := front.Get(ctx, "long"); !ok {
		t.Error("front dropped an entry before frontTTL")
	}
	c.Advance(4 * time.Second)
	if _, ok, _ := front.Get(ctx, "long"); ok {
		t.Error("front kept an entry past frontTTL")
	}
	if _, ok, _ := back.Get(ctx, "long"); !ok {
		t.Error("back lost an entry before its ttl")
	}
}

func TestTieredDegradesWhenBackFails(t *testing.T) {
	ctx := context.Background()
	down := errors.New("connection refused")
	front := newTestMemory(t, newFakeClock().Now)
	s := NewTiered(front, brokenStore{down}, time.Minute)

	var de *DegradedError
	_, ok, err := s.Get(ctx, "k")
	if ok || !errors.As(err, &de) || de.Op != "get" || !errors.Is(err, down) {
		t.Fatalf("Get = ok %v, err %v; want a miss with a get DegradedError", ok, err)
	}

	err = s.Set(ctx, "k", []byte("v"), time.Hour)
	if !errors.As(err, &de) || de.Op != "set" || !errors.Is(err, down) {
		t.Fatalf("Set = %v; want a set DegradedError", err)
	}
	// The front still took the value, so this replica serves it.
	if e, ok, err := s.Get(ctx, "k"); !ok || err != nil || string(e.Value) != "v" {
		t.Fatalf("Get after a degraded Set = %+v, %v, %v; want a front hit", e, ok, err)
	}

	err = s.Delete(ctx, "k")
	if !errors.As(err, &de) || de.Op != "delete" || !errors.Is(err, down) {
		t.Fatalf("Delete = %v; want a delete DegradedError", err)
	}
	if _, ok, _ := front.Get(ctx, "k"); ok {
		t.Error("a degraded Delete left the front entry")
	}
}

func TestNewTieredRejectsWiringMistakes(t *testing.T) {
	front := newTestMemory(t, nil)
	for name, f := range map[string]func(){
		"nil front":    func() { NewTiered(nil, front, time.Second) },
		"nil back":     func() { NewTiered(front, nil, time.Second) },
		"zero ttl":     func() { NewTiered(front, front, 0) },
		"negative ttl": func() { NewTiered(front, front, -time.Second) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewTiered with %s did not panic", name)
				}
			}()
			f()
		}()
	}
}
