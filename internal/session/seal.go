package session

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
)

// Layout of sealed bytes, for session records and the login cookie alike:
//
//	version (1 byte, sealVersion) | key id (8 bytes) | nonce (12 bytes) | AES-256-GCM ciphertext and tag
//
// The key id names the configured key that sealed the value, so a value
// sealed before a rotation opens with the retired key without trying every
// key. The associated data is the version and key id followed by the
// value's context (the session id, or the login cookie's name), so a value
// moved to another session or another cookie fails to open, and so does
// one whose header was edited.
const (
	sealVersion   = 1
	keyIDLen      = 8
	sealHeaderLen = 1 + keyIDLen
	gcmNonceLen   = 12
	// sealOverhead is what sealing adds to the plaintext.
	sealOverhead = sealHeaderLen + gcmNonceLen + 16
)

// KeySize is the length in bytes of every Config.EncryptionKeys entry:
// AES-256.
const KeySize = 32

// Purposes, mixed into each derived key so that a key never encrypts two
// kinds of value and one kind cannot be passed off as the other.
const (
	purposeRecord = "meridian/session/record/v1"
	purposeLogin  = "meridian/session/login/v1"
	purposeKeyID  = "meridian/session/key-id/v1"
)

// errNotOpened is every failure to open sealed bytes. The reasons (unknown
// key, tampering, wrong context) are deliberately not told apart: to a
// caller they all mean "not ours", and to an attacker they would be an
// oracle.
var errNotOpened = errors.New("sealed value does not open with any configured key")

// sealKey is one configured key and its public id.
type sealKey struct {
	id     [keyIDLen]byte
	secret []byte
}

// keyring holds the configured keys, the current one first.
type keyring struct {
	keys []sealKey
}

func newKeyring(keys [][]byte) (*keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("at least one encryption key is required")
	}
	kr := &keyring{}
	var errs []error
	for i, k := range keys {
		if len(k) != KeySize {
			errs = append(errs, fmt.Errorf("encryption key %d is %d bytes, want %d (AES-256)", i, len(k), KeySize))
			continue
		}
		if subtle.ConstantTimeCompare(k, make([]byte, KeySize)) == 1 {
			errs = append(errs, fmt.Errorf("encryption key %d is all zeros", i))
			continue
		}
		sk := sealKey{secret: append([]byte(nil), k...)}
		sum := sha256.Sum256(append([]byte(purposeKeyID+"\x00"), k...))
		copy(sk.id[:], sum[:keyIDLen])
		for j, prev := range kr.keys {
			if prev.id == sk.id {
				errs = append(errs, fmt.Errorf("encryption key %d repeats key %d", i, j))
			}
		}
		kr.keys = append(kr.keys, sk)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return kr, nil
}

// aead derives the AES-256-GCM instance of key for one purpose and context.
// Deriving per session (the session id is the context) means that the
// store's contents and the configured keys together still open nothing
// without the session ids, which only the browsers' cookies hold.
func (k sealKey) aead(purpose string, context []byte) (cipher.AEAD, error) {
	derived, err := hkdf.Key(sha256.New, k.secret, nil, purpose+"\x00"+string(context), KeySize)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(derived)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal encrypts plaintext with the current key for purpose, bound to
// context.
func (kr *keyring) seal(purpose string, context, plaintext []byte) ([]byte, error) {
	k := kr.keys[0]
	aead, err := k.aead(purpose, context)
	if err != nil {
		return nil, fmt.Errorf("session: seal: %w", err)
	}
	out := make([]byte, sealHeaderLen+gcmNonceLen, sealOverhead+len(plaintext))
	out[0] = sealVersion
	copy(out[1:sealHeaderLen], k.id[:])
	nonce := out[sealHeaderLen:]
	rand.Read(nonce) // crypto/rand.Read never fails; it crashes the program instead
	aad := append(append([]byte(nil), out[:sealHeaderLen]...), context...)
	return aead.Seal(out, nonce, plaintext, aad), nil
}

// open decrypts what seal produced for the same purpose and context, with
// whichever configured key sealed it. Any failure is errNotOpened.
func (kr *keyring) open(purpose string, context, sealed []byte) ([]byte, error) {
	if len(sealed) < sealOverhead || sealed[0] != sealVersion {
		return nil, errNotOpened
	}
	var id [keyIDLen]byte
	copy(id[:], sealed[1:sealHeaderLen])
	for _, k := range kr.keys {
		if k.id != id {
			continue
		}
		aead, err := k.aead(purpose, context)
		if err != nil {
			return nil, errNotOpened
		}
		aad := append(append([]byte(nil), sealed[:sealHeaderLen]...), context...)
		nonce := sealed[sealHeaderLen : sealHeaderLen+gcmNonceLen]
		plain, err := aead.Open(nil, nonce, sealed[sealHeaderLen+gcmNonceLen:], aad)
		if err != nil {
			return nil, errNotOpened
		}
		return plain, nil
	}
	return nil, errNotOpened
}
