package idpsim

import (
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Header typ values: access tokens say what they are (RFC 9068), so a
// resource server that checks typ cannot be handed an ID token instead.
const (
	typAccessToken = "at+jwt"
	typJWT         = "JWT"
)

// signingKey is one RSA key with its kid, the RFC 7638 thumbprint of its
// public half: stable, unique per key, and derivable by anyone holding the
// JWKS.
type signingKey struct {
	priv *rsa.PrivateKey
	kid  string
}

func newKey(priv *rsa.PrivateKey) (*signingKey, error) {
	jwk := jose.JSONWebKey{Key: &priv.PublicKey}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("key thumbprint: %w", err)
	}
	return &signingKey{priv: priv, kid: base64.RawURLEncoding.EncodeToString(tp)}, nil
}

// retiredKey is a key replaced by a rotation, published until retireAt.
type retiredKey struct {
	*signingKey
	retireAt time.Time
}

// keyRing holds the current signing key and the retired ones still in
// their grace period.
type keyRing struct {
	mu      sync.Mutex
	cur     *signingKey
	retired []retiredKey
}

func newKeyRing(first *signingKey) *keyRing { return &keyRing{cur: first} }

func (kr *keyRing) current() *signingKey {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	return kr.cur
}

func (kr *keyRing) rotate(next *signingKey, retireOldAt time.Time) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	kr.retired = append(kr.retired, retiredKey{signingKey: kr.cur, retireAt: retireOldAt})
	kr.cur = next
}

// jwks returns the public keys to publish at now: the current key first,
// then retired keys whose grace has not ended. Keys past their grace are
// dropped for good.
func (kr *keyRing) jwks(now time.Time) jose.JSONWebKeySet {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	kept := kr.retired[:0]
	for _, k := range kr.retired {
		if now.Before(k.retireAt) {
			kept = append(kept, k)
		}
	}
	kr.retired = kept
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{publicJWK(kr.cur)}}
	for i := len(kept) - 1; i >= 0; i-- {
		set.Keys = append(set.Keys, publicJWK(kept[i].signingKey))
	}
	return set
}

func publicJWK(k *signingKey) jose.JSONWebKey {
	return jose.JSONWebKey{Key: &k.priv.PublicKey, KeyID: k.kid, Algorithm: string(jose.RS256), Use: "sig"}
}

// sign serializes claims as a compact JWS signed by the current key.
func (p *IdP) sign(typ string, claims any) (string, error) {
	k := p.keys.current()
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)),
	)
	if err != nil {
		return "", fmt.Errorf("idpsim: signer: %w", err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("idpsim: encode claims: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("idpsim: sign: %w", err)
	}
	return jws.CompactSerialize()
}
