package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	secretA = []byte("current-secret-0123456789abcdef")
	secretB = []byte("previous-secret-0123456789abcde")
	epoch   = time.Unix(1_767_225_600, 0) // 2026-01-01T00:00:00Z
)

func signedHeader(secret []byte, ts time.Time, body []byte) http.Header {
	h := http.Header{}
	tsHeader, sigHeader := Sign(secret, ts, body)
	h.Set(HeaderTimestamp, tsHeader)
	h.Set(HeaderSignature, sigHeader)
	return h
}

// newTestVerifier returns a verifier with a fixed clock at epoch and a fresh
// memory replay store.
func newTestVerifier(t testing.TB, secrets ...[]byte) *Verifier {
	t.Helper()
	replays, err := NewMemoryReplays(1000)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(VerifierConfig{Secrets: secrets, Now: func() time.Time { return epoch }, Replays: replays})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSignMatchesTheContract(t *testing.T) {
	body := []byte(`{"changes":[]}`)
	tsHeader, sigHeader := Sign(secretA, epoch.Add(999*time.Millisecond), body)
	if tsHeader != "1767225600" {
		t.Errorf("timestamp header = %q, want whole unix seconds 1767225600", tsHeader)
	}
	m := hmac.New(sha256.New, secretA)
	m.Write([]byte("1767225600." + string(body)))
	if want := "v1=" + hex.EncodeToString(m.Sum(nil)); sigHeader != want {
		t.Errorf("signature header = %q, want %q", sigHeader, want)
	}

	req, err := http.NewRequest(http.MethodPost, "http://gateway/hooks/changes", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(HeaderSignature, "v1=stale")
	SignRequest(req, secretA, epoch, body)
	if got := req.Header.Values(HeaderSignature); len(got) != 1 || got[0] != sigHeader {
		t.Errorf("SignRequest signature = %q, want only %q", got, sigHeader)
	}
	if got := req.Header.Get(HeaderTimestamp); got != tsHeader {
		t.Errorf("SignRequest timestamp = %q, want %q", got, tsHeader)
	}
}

func TestVerifyRoundTrip(t *testing.T) {
	v := newTestVerifier(t, secretA)
	body := []byte(`{"changes":[{"kind":"product","sku":"MRD-1"}]}`)
	if err := v.Verify(context.Background(), signedHeader(secretA, epoch, body), body); err != nil {
		t.Fatalf("Verify(correctly signed) = %v, want nil", err)
	}
	empty := []byte{}
	if err := v.Verify(context.Background(), signedHeader(secretA, epoch, empty), empty); err != nil {
		t.Fatalf("Verify(signed empty body) = %v, want nil", err)
	}
}

func TestVerifyRefusals(t *testing.T) {
	body := []byte(`{"changes":[{"kind":"page","slug":"about-us"}]}`)
	good := signedHeader(secretA, epoch, body)
	with := func(key, value string) http.Header {
		h := good.Clone()
		h.Set(key, value)
		return h
	}
	without := func(key string) http.Header {
		h := good.Clone()
		h.Del(key)
		return h
	}
	twice := func(key string) http.Header {
		h := good.Clone()
		h.Add(key, h.Get(key))
		return h
	}
	upper := "v1=" + strings.ToUpper(strings.TrimPrefix(good.Get(HeaderSignature), "v1="))
	tests := []struct {
		name   string
		header http.Header
		body   []byte
		want   error
	}{
		{"tampered body", good, []byte(`{"changes":[{"kind":"page","slug":"about-US"}]}`), ErrBadSignature},
		{"truncated body", good, body[:len(body)-1], ErrBadSignature},
		{"wrong secret", signedHeader(secretB, epoch, body), body, ErrBadSignature},
		{"timestamp changed after signing", with(HeaderTimestamp, "1767225601"), body, ErrBadSignature},
		{"same time spelled with a leading zero", with(HeaderTimestamp, "01767225600"), body, ErrBadSignature},
		{"no headers", http.Header{}, body, ErrMissingSignature},
		{"no timestamp", without(HeaderTimestamp), body, ErrMissingSignature},
		{"no signature", without(HeaderSignature), body, ErrMissingSignature},
		{"empty signature", with(HeaderSignature, ""), body, ErrMissingSignature},
		{"two timestamps", twice(HeaderTimestamp), body, ErrMalformed},
		{"two signatures", twice(HeaderSignature), body, ErrMalformed},
		{"timestamp not a number", with(HeaderTimestamp, "2026-01-01T00:00:00Z"), body, ErrMalformed},
		{"timestamp with sign", with(HeaderTimestamp, "+1767225600"), body, ErrMalformed},
		{"negative timestamp", with(HeaderTimestamp, "-1"), body, ErrMalformed},
		{"timestamp in milliseconds overflowing int64", with(HeaderTimestamp, "99999999999999999999"), body, ErrMalformed},
		{"unknown scheme", with(HeaderSignature, "v2="+strings.Repeat("0", 64)), body, ErrMalformed},
		{"no scheme", with(HeaderSignature, strings.Repeat("0", 64)), body, ErrMalformed},
		{"short hex", with(HeaderSignature, "v1="+strings.Repeat("0", 63)), body, ErrMalformed},
		{"not hex", with(HeaderSignature, "v1="+strings.Repeat("g", 64)), body, ErrMalformed},
		{"uppercase hex", with(HeaderSignature, upper), body, ErrMalformed},
		{"too old", signedHeader(secretA, epoch.Add(-5*time.Minute-time.Second), body), body, ErrExpired},
		{"too far in the future", signedHeader(secretA, epoch.Add(5*time.Minute+time.Second), body), body, ErrExpired},
		{"1970", signedHeader(secretA, time.Unix(0, 0), body), body, ErrExpired},
		{"far future", signedHeader(secretA, time.Unix(1<<62, 0), body), body, ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newTestVerifier(t, secretA)
			err := v.Verify(context.Background(), tt.header, tt.body)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want an error wrapping %v", err, tt.want)
			}
			assertNoSecrets(t, err.Error(), tt.header, tt.body)
		})
	}
}

// assertNoSecrets fails if msg contains a secret or the signature that
// would have been expected for header and body.
func assertNoSecrets(t *testing.T, msg string, header http.Header, body []byte) {
	t.Helper()
	for _, s := range [][]byte{secretA, secretB} {
		if strings.Contains(msg, string(s)) || strings.Contains(msg, hex.EncodeToString(s)) {
			t.Errorf("message %q contains a secret", msg)
		}
		expected := hex.EncodeToString(mac(s, header.Get(HeaderTimestamp), body))
		if strings.Contains(msg, expected) {
			t.Errorf("message %q contains the expected signature", msg)
		}
	}
}

func TestVerifyWindowEdgesAreAccepted(t *testing.T) {
	body := []byte("{}")
	for _, offset := range []time.Duration{-5 * time.Minute, 5 * time.Minute, 0} {
		v := newTestVerifier(t, secretA)
		if err := v.Verify(context.Background(), signedHeader(secretA, epoch.Add(offset), body), body); err != nil {
			t.Errorf("Verify(timestamp %s from now) = %v, want nil", offset, err)
		}
	}
}

func TestVerifyUsesConfiguredMaxAge(t *testing.T) {
	replays, _ := NewMemoryReplays(10)
	now := epoch
	v, err := NewVerifier(VerifierConfig{Secrets: [][]byte{secretA}, MaxAge: 30 * time.Second, Now: func() time.Time { return now }, Replays: replays})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("{}")
	h := signedHeader(secretA, epoch, body)
	now = epoch.Add(31 * time.Second)
	if err := v.Verify(context.Background(), h, body); !errors.Is(err, ErrExpired) {
		t.Fatalf("Verify 31s after signing with MaxAge 30s = %v, want ErrExpired", err)
	}
	now = epoch.Add(30 * time.Second)
	if err := v.Verify(context.Background(), h, body); err != nil {
		t.Fatalf("Verify 30s after signing with MaxAge 30s = %v, want nil", err)
	}
}

func TestVerifyAcceptsRotatedSecret(t *testing.T) {
	v := newTestVerifier(t, secretA, secretB)
	for name, secret := range map[string][]byte{"current": secretA, "previous": secretB} {
		body := []byte(`{"signedWith":"` + name + `"}`)
		if err := v.Verify(context.Background(), signedHeader(secret, epoch, body), body); err != nil {
			t.Errorf("Verify(signed with the %s secret) = %v, want nil", name, err)
		}
	}
	other := []byte("some-other-secret-0123456789abcd")
	body := []byte("{}")
	if err := v.Verify(context.Background(), signedHeader(other, epoch, body), body); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Verify(signed with neither secret) = %v, want ErrBadSignature", err)
	}
}

func TestVerifyRefusesReplay(t *testing.T) {
	v := newTestVerifier(t, secretA)
	body := []byte(`{"changes":[]}`)
	h := signedHeader(secretA, epoch, body)
	if err := v.Verify(context.Background(), h, body); err != nil {
		t.Fatalf("first delivery: %v", err)
	}
	err := v.Verify(context.Background(), h, body)
	if !errors.Is(err, ErrReplayed) {
		t.Fatalf("second delivery of the same signature = %v, want ErrReplayed", err)
	}
	// A retry signed afresh is a new signature and goes through.
	if err := v.Verify(context.Background(), signedHeader(secretA, epoch.Add(time.Second), body), body); err != nil {
		t.Fatalf("retry signed afresh = %v, want nil", err)
	}
}

func TestVerifierForget(t *testing.T) {
	ctx := context.Background()
	v := newTestVerifier(t, secretA)
	body := []byte("{}")
	h := signedHeader(secretA, epoch, body)
	if err := v.Verify(ctx, h, body); err != nil {
		t.Fatal(err)
	}
	if err := v.Forget(ctx, h); err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(ctx, h, body); err != nil {
		t.Fatalf("Verify after Forget = %v, want nil", err)
	}
	if err := v.Forget(ctx, http.Header{HeaderSignature: {"garbage"}}); err != nil {
		t.Errorf("Forget(malformed header) = %v, want nil", err)
	}

	// A store that cannot forget makes Forget a no-op.
	plain, err := NewVerifier(VerifierConfig{Secrets: [][]byte{secretA}, Now: func() time.Time { return epoch },
		Replays: replayFunc(func(context.Context, string, time.Duration) (bool, error) { return true, nil })})
	if err != nil {
		t.Fatal(err)
	}
	if err := plain.Forget(ctx, h); err != nil {
		t.Errorf("Forget with a store that cannot forget = %v, want nil", err)
	}
}

func TestVerifyRecordsOnlyGoodSignatures(t *testing.T) {
	replays, _ := NewMemoryReplays(10)
	v, err := NewVerifier(VerifierConfig{Secrets: [][]byte{secretA}, Now: func() time.Time { return epoch }, Replays: replays})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("{}")
	for _, h := range []http.Header{
		signedHeader(secretB, epoch, body),                   // wrong secret
		signedHeader(secretA, epoch.Add(-time.Hour), body),   // expired
		{HeaderTimestamp: {"1"}, HeaderSignature: {"v1=00"}}, // malformed
	} {
		if err := v.Verify(context.Background(), h, body); err == nil {
			t.Fatal("Verify accepted a bad request")
		}
	}
	if n := replays.order.Len(); n != 0 {
		t.Errorf("replay store holds %d keys after refused requests only, want 0", n)
	}
}

type failingReplays struct{ err error }

func (f failingReplays) Seen(context.Context, string, time.Duration) (bool, error) {
	return false, f.err
}

func TestVerifyFailsClosedWhenReplayStoreFails(t *testing.T) {
	storeErr := errors.New("connection refused")
	v, err := NewVerifier(VerifierConfig{Secrets: [][]byte{secretA}, Now: func() time.Time { return epoch }, Replays: failingReplays{storeErr}})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("{}")
	err = v.Verify(context.Background(), signedHeader(secretA, epoch, body), body)
	if !errors.Is(err, storeErr) {
		t.Fatalf("Verify with a failing store = %v, want it to wrap the store's error", err)
	}
	for _, sentinel := range []error{ErrMissingSignature, ErrMalformed, ErrExpired, ErrBadSignature, ErrReplayed} {
		if errors.Is(err, sentinel) {
			t.Errorf("store failure wraps %v; it must wrap none of the refusal sentinels", sentinel)
		}
	}
}

func TestVerifyPassesTTLOfTwiceMaxAge(t *testing.T) {
	var gotTTL time.Duration
	v, err := NewVerifier(VerifierConfig{
		Secrets: [][]byte{secretA},
		MaxAge:  time.Minute,
		Now:     func() time.Time { return epoch },
		Replays: replayFunc(func(_ context.Context, _ string, ttl time.Duration) (bool, error) {
			gotTTL = ttl
			return false, nil
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("{}")
	if err := v.Verify(context.Background(), signedHeader(secretA, epoch, body), body); err != nil {
		t.Fatal(err)
	}
	if gotTTL != 2*time.Minute {
		t.Errorf("replay ttl = %s, want 2m0s", gotTTL)
	}
}

type replayFunc func(ctx context.Context, key string, ttl time.Duration) (bool, error)

func (f replayFunc) Seen(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	return f(ctx, key, ttl)
}

func TestNewVerifierValidates(t *testing.T) {
	replays, _ := NewMemoryReplays(10)
	ok := VerifierConfig{Secrets: [][]byte{secretA}, Replays: replays}
	tests := []struct {
		name   string
		modify func(*VerifierConfig)
	}{
		{"no secrets", func(c *VerifierConfig) { c.Secrets = nil }},
		{"short secret", func(c *VerifierConfig) { c.Secrets = [][]byte{secretA, []byte("short")} }},
		{"empty secret", func(c *VerifierConfig) { c.Secrets = [][]byte{{}} }},
		{"negative MaxAge", func(c *VerifierConfig) { c.MaxAge = -time.Second }},
		{"MaxAge too long", func(c *VerifierConfig) { c.MaxAge = MaxMaxAge + time.Second }},
		{"no replay store", func(c *VerifierConfig) { c.Replays = nil }},
	}
	for _, tt := range tests {
		cfg := ok
		tt.modify(&cfg)
		_, err := NewVerifier(cfg)
		if err == nil {
			t.Errorf("%s: NewVerifier = nil error", tt.name)
			continue
		}
		if strings.Contains(err.Error(), string(secretA)) || strings.Contains(err.Error(), "short") {
			t.Errorf("%s: error %q repeats a secret", tt.name, err)
		}
	}
	if _, err := NewVerifier(ok); err != nil {
		t.Errorf("NewVerifier(valid config) = %v", err)
	}
}

func TestVerifierCopiesSecrets(t *testing.T) {
	secret := append([]byte(nil), secretA...)
	v := newTestVerifier(t, secret)
	secret[0] ^= 0xff
	body := []byte("{}")
	if err := v.Verify(context.Background(), signedHeader(secretA, epoch, body), body); err != nil {
		t.Fatalf("Verify after the caller changed its secret slice = %v, want nil", err)
	}
}

func FuzzVerify(f *testing.F) {
	body := []byte(`{"changes":[]}`)
	ts, sig := Sign(secretA, epoch, body)
	f.Add(ts, sig, body)
	f.Add("", "", []byte{})
	f.Add("1767225600", "v1=", []byte("x"))
	f.Add("-1", "v1="+strings.Repeat("A", 64), []byte{0xff})
	f.Add(strconv.Itoa(1<<62), "v1="+strings.Repeat("0", 64), body)
	f.Fuzz(func(t *testing.T, tsHeader, sigHeader string, body []byte) {
		v := newTestVerifier(t, secretA, secretB)
		h := http.Header{HeaderTimestamp: {tsHeader}, HeaderSignature: {sigHeader}}
		err := v.Verify(context.Background(), h, body)
		if err == nil {
			// Only a correct signature gets through.
			if want := hex.EncodeToString(mac(secretA, tsHeader, body)); sigHeader != "v1="+want {
				if want := hex.EncodeToString(mac(secretB, tsHeader, body)); sigHeader != "v1="+want {
					t.Fatalf("Verify accepted ts=%q sig=%q", tsHeader, sigHeader)
				}
			}
			return
		}
		if !errors.Is(err, ErrMissingSignature) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrExpired) {
			t.Fatalf("Verify = %v, want one of the refusal sentinels", err)
		}
		assertNoSecrets(t, err.Error(), h, body)
	})
}
