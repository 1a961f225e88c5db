package respcache

import (
	"bytes"
	"maps"
	"net/http"
	"strconv"
)

// capture holds the next handler's response so the cache can decide
// whether to keep it before any of it leaves. Up to limit bytes are
// buffered; past that the response can no longer be stored, and capture
// turns into a pass-through to out (or discards, for a background refresh
// with no client), so a huge response is never held whole.
//
// It deliberately has no Unwrap or Flush: nothing may write past it to the
// client while the response is still a candidate for the cache.
type capture struct {
	out    http.ResponseWriter // nil: nobody is waiting for this response
	limit  int
	header http.Header
	status int
	body   bytes.Buffer
	// passing is true once the body outgrew limit and went to out.
	passing bool
}

// newCapture starts a capture whose headers begin as a copy of out's, so
// the next handler sees what the layers above it set (Vary,
// Content-Language) exactly as it would without the cache.
func newCapture(out http.ResponseWriter, limit int) *capture {
	c := &capture{out: out, limit: limit}
	if out != nil {
		c.header = out.Header().Clone()
	}
	if c.header == nil {
		c.header = http.Header{}
	}
	return c
}

func (c *capture) Header() http.Header { return c.header }

func (c *capture) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
}

func (c *capture) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if c.passing {
		if c.out == nil {
			return len(p), nil
		}
		return c.out.Write(p)
	}
	if c.body.Len()+len(p) <= c.limit {
		return c.body.Write(p)
	}
	// Too large to keep: send what there is and pass the rest through.
	c.passing = true
	if c.out == nil {
		c.body = bytes.Buffer{}
		return len(p), nil
	}
	c.sendHeader("MISS")
	if _, err := c.out.Write(c.body.Bytes()); err != nil {
		return 0, err
	}
	c.body = bytes.Buffer{}
	return c.out.Write(p)
}

// statusCode is the status the handler chose, 200 if it wrote without
// choosing.
func (c *capture) statusCode() int {
	if c.status == 0 {
		return http.StatusOK
	}
	return c.status
}

// sendHeader replaces out's headers with the handler's and writes the
// status.
func (c *capture) sendHeader(xcache string) {
	h := c.out.Header()
	clear(h)
	maps.Copy(h, c.header)
	h.Set("X-Cache", xcache)
	c.out.WriteHeader(c.statusCode())
}

// replay sends the buffered response to out, unless it already went
// through.
func (c *capture) replay(xcache string) {
	if c.out == nil || c.passing {
		return
	}
	if c.body.Len() > 0 && c.header.Get("Content-Length") == "" {
		c.header.Set("Content-Length", strconv.Itoa(c.body.Len()))
	}
	c.sendHeader(xcache)
	_, _ = c.out.Write(c.body.Bytes())
}
