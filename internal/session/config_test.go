package session

import (
	"bytes"
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

func TestNewRefusesInvalidConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"issuer not a URL", func(c *Config) { c.Issuer = "idp" }, "issuer"},
		{"no client id", func(c *Config) { c.ClientID = "" }, "client id"},
		{"relative redirect URL", func(c *Config) { c.RedirectURL = "/auth/callback" }, "redirect URL"},
		{"redirect URL with query", func(c *Config) { c.RedirectURL = "https://app.example/cb?x=1" }, "redirect URL"},
		{"plain http off loopback", func(c *Config) { c.RedirectURL = "http://app.example/auth/callback" }, "must be https"},
		{"no openid scope", func(c *Config) { c.Scopes = []string{"offline_access"} }, "openid"},
		{"no store", func(c *Config) { c.Store = nil }, "store"},
		{"no verifier", func(c *Config) { c.Verifier = nil }, "verifier"},
		{"no keys", func(c *Config) { c.EncryptionKeys = nil }, "at least one encryption key"},
		{"short key", func(c *Config) { c.EncryptionKeys = [][]byte{make([]byte, 16)} }, "16 bytes, want 32"},
		{"zero key", func(c *Config) { c.EncryptionKeys = [][]byte{make([]byte, 32)} }, "all zeros"},
		{"repeated key", func(c *Config) { c.EncryptionKeys = [][]byte{testKey(1), testKey(2), testKey(1)} }, "repeats key 0"},
		{"cookie name with a space", func(c *Config) { c.CookieName = "my session" }, "cookie name"},
		{"__Host- cookie without Secure", func(c *Config) { c.CookieName = "__Host-session" }, "needs a Secure cookie"},
		{"negative refresh lead", func(c *Config) { c.RefreshBefore = -time.Second }, "negative"},
		{"idle timeout beyond the absolute lifetime", func(c *Config) { c.SessionTTL, c.MaxSessionAge = 48*time.Hour, 24*time.Hour }, "shorter than the idle timeout"},
		{"post-login redirect off site", func(c *Config) { c.PostLoginRedirect = "//evil.example" }, "post-login redirect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := e.config()
			tc.edit(&cfg)
			_, err := New(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tc.want)
			}
			for _, k := range cfg.EncryptionKeys {
				if len(k) > 0 && !bytes.Equal(k, make([]byte, len(k))) && strings.Contains(err.Error(), string(k)) {
					t.Error("the error shows a key")
				}
			}
		})
	}
}

func TestNewDefaultsAndSecure(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, tc := range []struct {
		redirect    string
		secure      bool
		wantSecure  bool
		loginCookie string
	}{
		{"http://127.0.0.1:8080/auth/callback", false, false, "meridian_session_login"},
		{"http://localhost:8080/auth/callback", false, false, "meridian_session_login"},
		{"http://[::1]:8080/auth/callback", true, true, "__Host-meridian_session_login"},
		{"https://shop.meridian.example/auth/callback", false, true, "__Host-meridian_session_login"},
	} {
		cfg := e.config()
		cfg.RedirectURL, cfg.Secure = tc.redirect, tc.secure
		s, err := cfg.settle()
		if err != nil {
			t.Fatalf("%s: %v", tc.redirect, err)
		}
		if s.secure != tc.wantSecure || s.loginCookie != tc.loginCookie {
			t.Errorf("%s Secure=%v: secure %v cookie %q, want %v %q", tc.redirect, tc.secure, s.secure, s.loginCookie, tc.wantSecure, tc.loginCookie)
		}
	}
	s, err := e.config().settle()
	if err != nil {
		t.Fatal(err)
	}
	if s.CookieName != DefaultCookieName || s.SessionTTL != 12*time.Hour || s.MaxSessionAge != 7*24*time.Hour ||
		s.RefreshBefore != time.Minute || s.PostLoginRedirect != "/" || strings.Join(s.Scopes, " ") != "openid offline_access" {
		t.Errorf("defaults: %+v", s.Config)
	}
	if s.callbackPath != "/auth/callback" {
		t.Errorf("callback path %q", s.callbackPath)
	}
}

func TestNewRefusesAnotherIssuer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	cfg := e.config()
	cfg.Issuer = strings.Replace(e.iss, "127.0.0.1", "localhost", 1)
	if _, err := New(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "issuer") {
		t.Fatalf("New = %v, want an issuer mismatch", err)
	}
}

func TestParseKeys(t *testing.T) {
	t.Parallel()
	k1, k2 := testKey(1), testKey(200)
	in := " " + base64.StdEncoding.EncodeToString(k1) + " , " + base64.RawURLEncoding.EncodeToString(k2)
	keys, err := ParseKeys(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || !bytes.Equal(keys[0], k1) || !bytes.Equal(keys[1], k2) {
		t.Errorf("ParseKeys = %x", keys)
	}
	short := base64.StdEncoding.EncodeToString(make([]byte, 16))
	for _, bad := range []string{"", "not base64!", short, base64.StdEncoding.EncodeToString(k1) + ","} {
		_, err := ParseKeys(bad)
		if err == nil {
			t.Errorf("ParseKeys(%q) succeeded", bad)
			continue
		}
		if bad != "" && strings.Contains(err.Error(), bad) {
			t.Errorf("the error of ParseKeys shows the input: %v", err)
		}
	}
}

func TestSafeReturnPath(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"/", "/orders", "/orders/7?tab=open#x", "/%2F%2Fevil.example", "/a:b", "/@x"} {
		if _, err := safeReturnPath(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a", "//x", "/\\x", "\\x", "/x\\y", "/\x00", "/\x7f", "/é", "https://x", "/ x", "\t/x"} {
		if _, err := safeReturnPath(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
