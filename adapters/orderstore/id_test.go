package orderstore

import (
	"crypto/rand"
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestEncodeIsCrockfordBase32(t *testing.T) {
	var ones [16]byte
	for i := range ones {
		ones[i] = 0xff
	}
	if got, want := encode(ones), "7"+strings.Repeat("Z", 25); got != want {
		t.Errorf("encode(all ones) = %s, want %s", got, want)
	}
	if got, want := encode([16]byte{}), strings.Repeat("0", 26); got != want {
		t.Errorf("encode(zero) = %s, want %s", got, want)
	}
	// Against math/big's base 32, digit by digit.
	for range 1000 {
		var id [16]byte
		rand.Read(id[:])
		digits := new(big.Int).SetBytes(id[:]).Text(32)
		var want strings.Builder
		want.WriteString(strings.Repeat("0", 26-len(digits)))
		for _, d := range digits {
			v := strings.IndexRune("0123456789abcdefghijklmnopqrstuv", d)
			want.WriteByte(crockford[v])
		}
		if got := encode(id); got != want.String() {
			t.Fatalf("encode(%x) = %s, want %s", id, got, want.String())
		}
	}
}

func TestULIDsIncreaseAndCarryTheTime(t *testing.T) {
	var u ulids
	at := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	prev := ""
	for i := range 2000 {
		now := at
		switch {
		case i == 1000:
			now = at.Add(-time.Hour) // the clock steps back
		case i > 1500:
			now = at.Add(time.Duration(i) * time.Millisecond)
		}
		id, err := u.next(now)
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != 26 || !orderID.MatchString("ord-"+id) {
			t.Fatalf("id %q is not a 26-character ULID", id)
		}
		if id <= prev {
			t.Fatalf("id %d: %s does not sort after %s", i, id, prev)
		}
		prev = id
	}
	// The first 10 characters are the milliseconds.
	id, _ := (&ulids{}).next(at)
	ms := new(big.Int)
	for _, c := range id[:10] {
		ms.Mul(ms, big.NewInt(32))
		ms.Add(ms, big.NewInt(int64(strings.IndexRune(crockford, c))))
	}
	if ms.Int64() != at.UnixMilli() {
		t.Errorf("time part %d, want %d", ms.Int64(), at.UnixMilli())
	}
}

func TestFormatMoneyIsExact(t *testing.T) {
	for _, tt := range []struct {
		prices     []string
		quantities []int
		want       string
	}{
		{[]string{"0.10", "0.20"}, []int{1, 1}, "0.30"},
		{[]string{"100.07"}, []int{3}, "300.21"},
		{[]string{"0.01"}, []int{999}, "9.99"},
		{[]string{"9999999999.99"}, []int{999}, "9989999999990.01"},
		{[]string{"0.00"}, []int{5}, "0.00"},
	} {
		sum := new(big.Rat)
		for i, p := range tt.prices {
			r, ok := parseMoney(p)
			if !ok {
				t.Fatalf("parseMoney(%s) failed", p)
			}
			sum.Add(sum, new(big.Rat).Mul(r, big.NewRat(int64(tt.quantities[i]), 1)))
		}
		if got := formatMoney(sum); got != tt.want {
			t.Errorf("%v × %v = %s, want %s", tt.prices, tt.quantities, got, tt.want)
		}
	}
	for _, bad := range []string{"1", "1.0", "1.000", "-1.00", "01.00", "1e2", " 1.00", "1,00", "NaN"} {
		if _, ok := parseMoney(bad); ok {
			t.Errorf("parseMoney(%q) accepted it", bad)
		}
	}
}

func TestClip(t *testing.T) {
	if got := clip("短文", 100); got != "短文" {
		t.Errorf("clip of a short text = %q", got)
	}
	got := clip(strings.Repeat("价", 10), 7) // 7 bytes cut inside the third rune
	if got != "价价…" {
		t.Errorf("clip = %q, want two whole runes and an ellipsis", got)
	}
}
