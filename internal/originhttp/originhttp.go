// Package originhttp is the one HTTP client Meridian uses to reach the global
// systems of record (master data, order management, CMS) across the border.
// The adapters in adapters/masterdata, adapters/orders and adapters/cms speak
// their domain on top of it; everything about the wire lives here, once:
// connection pooling, JSON bodies, the response size bound, and the mapping
// of upstream statuses to apierr kinds.
//
// The link is long (150-300 ms) and lossy, so the client has no timeout of
// its own: every call is bounded by its caller's context, which the origin
// guard (internal/guard) gives a deadline budget. A call that runs out of
// time returns an error for which errors.Is(err, context.DeadlineExceeded)
// holds. The client does not retry either: a retry would not fit in the
// budget, and the guard's last-known-good copies answer instead.
//
// Errors are classified once, here, from the origin's status:
//
//	400, 422            apierr.BadUserInput
//	404                 apierr.NotFound (but Internal when the path itself is unknown)
//	409                 apierr.Conflict
//	401, 403            apierr.Internal: our credentials are wrong, not the user's input
//	410                 apierr.Internal, matching ErrCursorExpired
//	429, 5xx            a plain *StatusError matching ErrUnavailable (an origin failure)
//	transport failure   a plain wrapped error; deadlines keep context.DeadlineExceeded
//	other statuses      apierr.Internal
//	undecodable body    apierr.Internal
//
// Client-facing messages (apierr.Error.Message) never repeat what the origin
// wrote: the upstream {"error":{"code","message"}} is kept in the wrapped
// *StatusError, whose text is for logs only.
package originhttp

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"meridian/internal/apierr"
)

// DefaultMaxResponseBytes bounds a response body when Config.MaxResponseBytes
// is zero. The largest legitimate answer (a page of 1,000 feed entries
// carrying whole products) is well below it.
const DefaultMaxResponseBytes int64 = 4 << 20

// DefaultUserAgent is sent when Config.UserAgent is empty, so the origins'
// operators can tell Meridian's traffic apart.
const DefaultUserAgent = "meridian-gateway"

// maxErrorBody bounds how much of an error response is read for its
// envelope. Error bodies are small; anything longer is not the contract's
// envelope and only the start is worth logging.
const maxErrorBody = 64 << 10

// maxLoggedMessage bounds the upstream text kept in a StatusError, so one
// misbehaving origin cannot flood the logs.
const maxLoggedMessage = 512

// Config configures a Client.
type Config struct {
	// BaseURL is the origin's base URL, such as
	// "https://md.example.com/masterdata"; request paths ("/v1/...") are
	// appended to it. It must be http or https with a host, and carry no
	// query, fragment or user info (credentials in a URL end up in logs).
	BaseURL string
	// Origin names the origin in errors and logs ("masterdata"). Required.
	Origin string
	// MaxResponseBytes bounds every response body; a larger body is an
	// error, never a truncated decode. Zero means DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// Transport carries the requests. Nil means a fresh NewTransport; pass
	// one explicitly to share a pool between clients or to add
	// authentication.
	Transport http.RoundTripper
	// UserAgent is sent with every request. Empty means DefaultUserAgent.
	UserAgent string
}

// Client calls one origin. It is safe for concurrent use and holds no
// per-call state; build one per origin at start-up and share it.
type Client struct {
	origin    string
	base      string // scheme://host/path, without a trailing slash
	maxBytes  int64
	userAgent string
	http      *http.Client
}

// New validates cfg and returns a client for its origin.
func New(cfg Config) (*Client, error) {
	if strings.TrimSpace(cfg.Origin) == "" {
		return nil, errors.New("originhttp: config: Origin is required")
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("originhttp: config: %s base URL: %w", cfg.Origin, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("originhttp: config: %s base URL %q: scheme must be http or https", cfg.Origin, cfg.BaseURL)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("originhttp: config: %s base URL %q: host is missing", cfg.Origin, cfg.BaseURL)
	case u.User != nil:
		return nil, fmt.Errorf("originhttp: config: %s base URL: user info is not allowed; authenticate through Config.Transport", cfg.Origin)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("originhttp: config: %s base URL %q: query and fragment are not allowed", cfg.Origin, cfg.BaseURL)
	}
	if cfg.MaxResponseBytes < 0 {
		return nil, fmt.Errorf("originhttp: config: %s MaxResponseBytes %d must not be negative", cfg.Origin, cfg.MaxResponseBytes)
	}
	transport := cfg.Transport
	if transport == nil {
		transport = NewTransport()
	}
	return &Client{
		origin:    cfg.Origin,
		base:      u.Scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/"),
		maxBytes:  cmp.Or(cfg.MaxResponseBytes, DefaultMaxResponseBytes),
		userAgent: cmp.Or(cfg.UserAgent, DefaultUserAgent),
		http: &http.Client{
			Transport: transport,
			// A system of record has no reason to redirect; following one
			// would resend the request, Idempotency-Key included, to a host
			// nobody configured. The 3xx is reported as an internal error.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			// No Timeout: the caller's context bounds every call.
		},
	}, nil
}

// NewTransport returns the connection pool tuned for a few far-away hosts.
//
// Every new connection costs one to three round trips of 150-300 ms (TCP,
// TLS), so idle connections are kept generously and long. Requests use
// HTTP/1.1 over several connections rather than HTTP/2 over one: on a lossy
// link a lost packet stalls every stream of an HTTP/2 connection, while with
// a pool it stalls one request. There are no response timeouts; callers'
// deadlines bound each call. Dial and TLS handshake limits stay as a
// backstop for callers without a deadline (the sync jobs).
func NewTransport() *http.Transport {
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    5 * time.Second,
		Protocols:              protocols,
		MaxIdleConns:           256,
		MaxIdleConnsPerHost:    64,
		IdleConnTimeout:        90 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
}

// Origin returns the origin's name, as given in Config.Origin.
func (c *Client) Origin() string { return c.origin }

// CloseIdleConnections closes the pooled connections that are not in use,
// for a clean shutdown. Connections in use are left alone.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// GetJSON sends GET path?query and decodes the JSON answer into out.
//
// path is the escaped path under the base URL, starting with "/"; build
// segments from input with PathSegment. query may be nil. A non-2xx answer
// or a failure is an error as described in the package documentation; out
// must not be used after an error, since an answer of the wrong shape may
// have been decoded into it in part.
func (c *Client) GetJSON(ctx context.Context, path string, query url.Values, out any) error {
	_, err := c.do(ctx, call{method: http.MethodGet, path: path, query: query, out: out})
	return err
}

// PostJSON sends in as a JSON body to path, with header added to the request,
// and decodes a 2xx answer into out (nil discards it). It returns the status
// of the answer, also alongside an error when the origin answered; a
// transport failure returns status 0.
//
// The request is not replayed on a failed pooled connection unless header
// carries an Idempotency-Key: without one the origin may have acted on it.
func (c *Client) PostJSON(ctx context.Context, path string, header http.Header, in, out any) (status int, err error) {
	return c.do(ctx, call{method: http.MethodPost, path: path, header: header, in: in, out: out})
}

// BatchGetJSON is PostJSON for a POST that only reads, such as the master
// data's ":batchGet" lookups. Because it changes nothing, the transport may
// replay it on a fresh connection when a pooled one turns out to be dead,
// as it does for GET; over a long link idle connections die silently often
// enough for that to matter.
func (c *Client) BatchGetJSON(ctx context.Context, path string, in, out any) error {
	// An Idempotency-Key entry with no values marks the request as
	// replayable to net/http without sending any header.
	header := http.Header{"Idempotency-Key": nil}
	_, err := c.do(ctx, call{method: http.MethodPost, path: path, header: header, in: in, out: out})
	return err
}

// call is one request and where its answer goes.
type call struct {
	method string
	path   string
	query  url.Values
	header http.Header
	in     any // JSON-encoded as the body when not nil
	out    any // the 2xx body is decoded into it when not nil
}

func (c *Client) do(ctx context.Context, cl call) (int, error) {
	req, err := c.newRequest(ctx, cl)
	if err != nil {
		return 0, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, c.transportError(ctx, cl, err)
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, c.statusError(ctx, cl, resp)
	}
	body, err := c.readBody(ctx, cl, resp.Body, c.maxBytes)
	if err != nil {
		return resp.StatusCode, err
	}
	if cl.out == nil || resp.StatusCode == http.StatusNoContent {
		return resp.StatusCode, nil
	}
	if err := json.Unmarshal(body, cl.out); err != nil {
		return resp.StatusCode, apierr.Wrap(apierr.Internal,
			fmt.Errorf("%s: %s %s: decoding %d answer (Content-Type %q): %w",
				c.origin, cl.method, cl.path, resp.StatusCode, resp.Header.Get("Content-Type"), err),
			"%s answered with an unreadable body", c.origin)
	}
	return resp.StatusCode, nil
}

func (c *Client) newRequest(ctx context.Context, cl call) (*http.Request, error) {
	// The path is appended, never resolved: a path with its own scheme, host,
	// query or fragment would send the request somewhere else.
	if !strings.HasPrefix(cl.path, "/") || strings.ContainsAny(cl.path, "?#") {
		return nil, fmt.Errorf("%s: request path %q: want an escaped path starting with \"/\", without query or fragment", c.origin, cl.path)
	}
	u, err := url.Parse(c.base + cl.path)
	if err != nil {
		return nil, fmt.Errorf("%s: request path %q: %w", c.origin, cl.path, err)
	}
	if len(cl.query) > 0 {
		u.RawQuery = cl.query.Encode()
	}
	var body io.Reader
	if cl.in != nil {
		b, err := json.Marshal(cl.in)
		if err != nil {
			return nil, fmt.Errorf("%s: %s %s: encoding request body: %w", c.origin, cl.method, cl.path, err)
		}
		body = bytes.NewReader(b) // also gives the request a GetBody, so it can be replayed
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("%s: %s %s: %w", c.origin, cl.method, cl.path, err)
	}
	for k, vs := range cl.header {
		req.Header[http.CanonicalHeaderKey(k)] = vs
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// readBody reads the whole body, failing rather than truncating past limit.
func (c *Client) readBody(ctx context.Context, cl call, r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, c.transportError(ctx, cl, fmt.Errorf("reading answer: %w", err))
	}
	if int64(len(b)) > limit {
		return nil, apierr.Wrap(apierr.Internal,
			fmt.Errorf("%s: %s %s: answer exceeds %d bytes", c.origin, cl.method, cl.path, limit),
			"%s answered with a body over the %d-byte limit", c.origin, limit)
	}
	return b, nil
}

// transportError wraps a failure to get an answer. When the caller's context
// ended, its error is kept in the chain whatever the transport made of it,
// so errors.Is(err, context.DeadlineExceeded) tells a timeout apart.
func (c *Client) transportError(ctx context.Context, cl call, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w: %w", cerr, err)
	}
	return fmt.Errorf("%s: %s %s: %w", c.origin, cl.method, cl.path, err)
}

// errorEnvelope is the contract's error body.
type errorEnvelope struct {
	Error *struct {
		Code    string   `json:"code"`
		Message string   `json:"message"`
		SKUs    []string `json:"skus"`
	} `json:"error"`
}

// statusError reads a non-2xx answer and classifies it.
func (c *Client) statusError(ctx context.Context, cl call, resp *http.Response) error {
	se := &StatusError{
		Origin:     c.origin,
		Method:     cl.method,
		Path:       cl.path,
		Status:     resp.StatusCode,
		RetryAfter: retryAfter(resp.Header.Get("Retry-After")),
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil && ctx.Err() != nil {
		return c.transportError(ctx, cl, fmt.Errorf("reading %d answer: %w", resp.StatusCode, err))
	}
	var env errorEnvelope
	if json.Unmarshal(body, &env) == nil && env.Error != nil && env.Error.Code != "" {
		se.Code, se.Message, se.SKUs = env.Error.Code, env.Error.Message, env.Error.SKUs
	} else {
		se.Message = string(body) // not the envelope: keep the start for the logs
	}
	se.Message = truncate(strings.ToValidUTF8(se.Message, "\uFFFD"), maxLoggedMessage)
	return classify(se)
}

// classify turns a StatusError into what callers and the guard act on. The
// client-facing messages are fixed texts: the upstream message stays in the
// cause.
func classify(se *StatusError) error {
	switch s := se.Status; {
	case s == http.StatusBadRequest || s == http.StatusUnprocessableEntity:
		return apierr.Wrap(apierr.BadUserInput, se, "%s refused the request as invalid", se.Origin)
	case s == http.StatusNotFound && se.Code != "" && se.Code != codeNoRoute:
		return apierr.Wrap(apierr.NotFound, se, "%s has no such resource", se.Origin)
	case s == http.StatusNotFound:
		// The path itself is unknown (or something other than the origin's
		// API answered): the base URL or the adapter is wrong, not the
		// user's input, and it must not be cached as "not found".
		return apierr.Wrap(apierr.Internal, se, "%s does not serve this path", se.Origin)
	case s == http.StatusConflict:
		return apierr.Wrap(apierr.Conflict, se, "the request conflicts with an earlier one at %s", se.Origin)
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		return apierr.Wrap(apierr.Internal, se, "%s refused Meridian's credentials", se.Origin)
	case s == http.StatusGone:
		return apierr.Wrap(apierr.Internal, se, "%s no longer holds what the cursor points at", se.Origin)
	case s == http.StatusTooManyRequests || s >= 500:
		return se
	default:
		return apierr.Wrap(apierr.Internal, se, "%s answered with unexpected status %d", se.Origin, s)
	}
}

// codeNoRoute is the contract's error code for a path the origin does not
// serve, as opposed to not_found for a missing resource.
const codeNoRoute = "no_route"

// retryAfter reads a Retry-After header in seconds, the form the contract
// uses; anything else (including the HTTP-date form) reads as zero.
func retryAfter(v string) time.Duration {
	secs, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || secs < 0 {
		return 0
	}
	return time.Duration(secs) * time.Second
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
