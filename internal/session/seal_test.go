package session

import (
	"bytes"
	"testing"
)

func mustKeyring(t *testing.T, keys ...[]byte) *keyring {
	t.Helper()
	kr, err := newKeyring(keys)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestSealOpens(t *testing.T) {
	t.Parallel()
	kr := mustKeyring(t, testKey(1))
	ctx := []byte("session-a")
	sealed, err := kr.seal(purposeRecord, ctx, []byte("secret tokens"))
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed) != sealOverhead+len("secret tokens") || bytes.Contains(sealed, []byte("secret")) {
		t.Fatalf("sealed % x", sealed)
	}
	plain, err := kr.open(purposeRecord, ctx, sealed)
	if err != nil || string(plain) != "secret tokens" {
		t.Fatalf("open = %q, %v", plain, err)
	}
	again, _ := kr.seal(purposeRecord, ctx, []byte("secret tokens"))
	if bytes.Equal(again, sealed) {
		t.Error("two seals of one value are equal: the nonce is not random")
	}
	if _, err := kr.open(purposeRecord, []byte("session-b"), sealed); err == nil {
		t.Error("opened under another context")
	}
	if _, err := kr.open(purposeLogin, ctx, sealed); err == nil {
		t.Error("opened for another purpose")
	}
	for i := range sealed {
		altered := bytes.Clone(sealed)
		altered[i] ^= 1
		if _, err := kr.open(purposeRecord, ctx, altered); err == nil {
			t.Errorf("opened with byte %d altered", i)
		}
	}
	for _, short := range [][]byte{nil, sealed[:sealOverhead-1]} {
		if _, err := kr.open(purposeRecord, ctx, short); err == nil {
			t.Errorf("opened %d bytes", len(short))
		}
	}
}

func TestSealKeyRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := testKey(1), testKey(2)
	ctx := []byte("session")
	sealedOld, _ := mustKeyring(t, oldKey).seal(purposeRecord, ctx, []byte("v"))

	rotated := mustKeyring(t, newKey, oldKey)
	if plain, err := rotated.open(purposeRecord, ctx, sealedOld); err != nil || string(plain) != "v" {
		t.Fatalf("the retired key does not open its value: %q %v", plain, err)
	}
	sealedNew, _ := rotated.seal(purposeRecord, ctx, []byte("v"))
	if !bytes.Equal(sealedNew[1:sealHeaderLen], rotated.keys[0].id[:]) {
		t.Error("new values are not sealed with the first key")
	}
	if _, err := mustKeyring(t, newKey).open(purposeRecord, ctx, sealedOld); err == nil {
		t.Error("opened without the sealing key")
	}
	if _, err := mustKeyring(t, oldKey).open(purposeRecord, ctx, sealedNew); err == nil {
		t.Error("the old key opened a value of the new one")
	}
}
