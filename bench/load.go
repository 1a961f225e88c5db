package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// requestTimeout bounds one request of the load generator. It is above the
// gateway's default EXECUTION_TIMEOUT (10s), so a slow answer is measured
// as slow rather than cut off by the client.
const requestTimeout = 15 * time.Second

// target is one page on one server.
type target struct {
	// URL receives the page as POST application/json.
	URL string
	// Body is the GraphQL request.
	Body []byte
	// WarmURL is fetched with GET to open a connection before a burst
	// without asking for the page (the gateway's /healthz).
	WarmURL string
}

// outcome classifies one response.
type outcome uint8

const (
	outcomeOK        outcome = iota
	outcomeTransport         // no HTTP response: refused, reset, timed out
	outcomeStatus            // an HTTP status other than 200
	outcomeGraphQL           // 200 with a non-empty "errors" list
)

// sample is one request as the client saw it.
type sample struct {
	d        time.Duration // from sending the request to the last body byte
	outcome  outcome
	degraded bool   // the body has a non-empty extensions.degraded
	code     string // why it failed: the first GraphQL error's code, the status or the transport failure
}

// response is one answer kept as it came, for the static ceiling.
type response struct {
	body        []byte
	contentType string
}

// collected is what one measurement recorded.
type collected struct {
	samples []sample
	// elapsed is from the first request sent to the last answer.
	elapsed time.Duration
	// first is the first 200 answer without GraphQL errors, or failing
	// that the first 200 answer; firstOK says which.
	first   response
	firstOK bool
	// cpu is the processor time spent while requests were measured.
	cpu cpuWindow
}

// merge appends o's samples (for measurements over several rounds).
func (c *collected) merge(o collected) {
	c.samples = append(c.samples, o.samples...)
	c.elapsed = max(c.elapsed, o.elapsed)
	c.keep(o.first, o.firstOK)
	c.cpu = c.cpu.add(o.cpu)
}

// keep remembers r as the answer to replay unless one is kept already; an
// answer without errors replaces one with errors.
func (c *collected) keep(r response, ok bool) {
	if r.body == nil {
		return
	}
	if c.first.body == nil || (ok && !c.firstOK) {
		c.first, c.firstOK = r, ok
	}
}

// envelope is the part of a GraphQL response the load generator checks.
type envelope struct {
	Errors []struct {
		Extensions struct {
			Code string `json:"code"`
		} `json:"extensions"`
	} `json:"errors"`
	Extensions struct {
		Degraded []json.RawMessage `json:"degraded"`
	} `json:"extensions"`
}

// newLoadClient returns a keep-alive client holding at most conns
// connections, so the concurrency of a run is exactly its worker count. It
// never uses a proxy: every request goes to 127.0.0.1.
func newLoadClient(conns int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
		Timeout: requestTimeout,
	}
}

// send posts the page once and classifies the answer. The body is returned
// for 200 answers only.
func send(ctx context.Context, c *http.Client, t target) (sample, response) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(t.Body))
	if err != nil {
		return sample{outcome: outcomeTransport}, response{}
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return sample{d: time.Since(start), outcome: outcomeTransport, code: transportCode(err)}, response{}
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	s := sample{d: time.Since(start)}
	switch {
	case err != nil:
		s.outcome = outcomeTransport
		return s, response{}
	case resp.StatusCode != http.StatusOK:
		s.outcome, s.code = outcomeStatus, "HTTP "+strconv.Itoa(resp.StatusCode)
		return s, response{}
	}
	s.outcome, s.degraded, s.code = check(body)
	return s, response{body: body, contentType: resp.Header.Get("Content-Type")}
}

var (
	errorsKey   = []byte(`"errors"`)
	degradedKey = []byte(`"degraded"`)
)

// check classifies a 200 body: outcomeGraphQL when it is not a JSON object
// or has a non-empty "errors" list (then code is the first error's code),
// and whether it lists degraded fields.
//
// The load generator shares the cores with the gateway, so it looks before
// it parses: a body in which neither key occurs (inside a string the quotes
// would be escaped) cannot have either, and only a body with one of them is
// decoded in full.
func check(body []byte) (o outcome, degraded bool, code string) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) < 2 || trimmed[0] != '{' || trimmed[len(trimmed)-1] != '}' {
		return outcomeGraphQL, false, "not a JSON object"
	}
	if !bytes.Contains(body, errorsKey) && !bytes.Contains(body, degradedKey) {
		return outcomeOK, false, ""
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return outcomeGraphQL, false, "not JSON"
	}
	degraded = len(env.Extensions.Degraded) > 0
	if len(env.Errors) > 0 {
		return outcomeGraphQL, degraded, env.Errors[0].Extensions.Code
	}
	return outcomeOK, degraded, ""
}

// closedLoop runs workers that each send the page, wait for the answer and
// send again, until d has passed or maxRequests have been sent, whichever
// comes first. Requests in flight at the deadline are waited for (each is
// bounded by requestTimeout) and counted. Worker i sends through
// clients[i % len(clients)]: one client shared by all, or one each.
func closedLoop(ctx context.Context, clients []*http.Client, t target, workers int, d time.Duration, maxRequests int) collected {
	var (
		sent     atomic.Int64
		mu       sync.Mutex
		out      collected
		wg       sync.WaitGroup
		mark     = markCPU()
		start    = time.Now()
		deadline = start.Add(d)
	)
	for i := range workers {
		c := clients[i%len(clients)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine collected
			mine.samples = make([]sample, 0, 1024)
			for ctx.Err() == nil && time.Now().Before(deadline) && sent.Add(1) <= int64(maxRequests) {
				s, r := send(ctx, c, t)
				mine.samples = append(mine.samples, s)
				mine.keep(r, s.outcome == outcomeOK)
			}
			mu.Lock()
			out.merge(mine)
			mu.Unlock()
		}()
	}
	wg.Wait()
	out.elapsed = time.Since(start)
	out.cpu = mark.window(markCPU())
	return out
}

// burst opens n connections, one client each, runs ready (which may wait
// for the state under test, such as an expired copy), then releases all n
// requests at once and waits for every answer. Connections are opened
// first so that what is measured is the gateway under n simultaneous
// requests, not n TCP handshakes.
func burst(ctx context.Context, t target, n int, ready func(context.Context) error) (collected, error) {
	clients := make([]*http.Client, n)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.CloseIdleConnections()
			}
		}
	}()
	// Open connections a few dozen at a time: n may be large, and a
	// thousand simultaneous dials measure the kernel, not the gateway.
	sem := make(chan struct{}, 32)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range clients {
		clients[i] = newLoadClient(1)
		wg.Add(1)
		sem <- struct{}{}
		go func(c *http.Client) {
			defer wg.Done()
			defer func() { <-sem }()
			errs <- warm(ctx, c, t.WarmURL)
		}(clients[i])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return collected{}, err
		}
	}
	if ready != nil {
		if err := ready(ctx); err != nil {
			return collected{}, err
		}
	}

	release := make(chan struct{})
	samples := make([]sample, n)
	responses := make([]response, n)
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-release
			samples[i], responses[i] = send(ctx, c, t)
		}()
	}
	mark := markCPU()
	start := time.Now()
	close(release)
	wg.Wait()
	out := collected{samples: samples, elapsed: time.Since(start), cpu: mark.window(markCPU())}
	for i, r := range responses {
		out.keep(r, samples[i].outcome == outcomeOK)
	}
	return out, nil
}

// warm opens c's connection with one GET of url, read to the end so the
// connection goes back to the pool.
func warm(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return err
}

// transportCode names a transport failure briefly for the report.
func transportCode(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "client timeout"
	}
	return "transport error"
}
