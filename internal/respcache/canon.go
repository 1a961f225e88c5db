package respcache

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
)

// canonicalJSON appends the canonical form of raw, one JSON value that is
// already known to be valid (it came out of encoding/json), to dst:
// whitespace dropped, object members sorted by name with the last of
// duplicate names kept (as encoding/json decodes them), strings and
// numbers as written.
//
// It exists for the hit path: decoding variables into maps and marshalling
// them again costs dozens of allocations per request. The contract that
// matters for correctness: two inputs with the same canonical form decode
// to the same value. The converse need not hold ("\u0061" and "a", 1 and
// 1.0 stay apart), which only costs an extra entry.
func canonicalJSON(dst, raw []byte) ([]byte, error) {
	c := canonicalizer{in: raw}
	c.skipSpace()
	out, err := c.value(dst)
	if err != nil {
		return nil, err
	}
	if c.skipSpace(); c.pos != len(c.in) {
		return nil, errNotCanonical
	}
	return out, nil
}

var errNotCanonical = errors.New("respcache: not a JSON value")

type canonicalizer struct {
	in  []byte
	pos int
}

func (c *canonicalizer) skipSpace() {
	for c.pos < len(c.in) {
		switch c.in[c.pos] {
		case ' ', '\t', '\n', '\r':
			c.pos++
		default:
			return
		}
	}
}

func (c *canonicalizer) value(dst []byte) ([]byte, error) {
	if c.pos >= len(c.in) {
		return nil, errNotCanonical
	}
	switch b := c.in[c.pos]; {
	case b == '{':
		return c.object(dst)
	case b == '[':
		return c.array(dst)
	case b == '"':
		s, err := c.str()
		if err != nil {
			return nil, err
		}
		return append(dst, s...), nil
	default: // number, true, false, null: up to the next delimiter
		start := c.pos
		for c.pos < len(c.in) {
			switch c.in[c.pos] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return append(dst, c.in[start:c.pos]...), nil
			}
			c.pos++
		}
		return append(dst, c.in[start:]...), nil
	}
}

// str returns the raw string token at pos, quotes included.
func (c *canonicalizer) str() ([]byte, error) {
	start := c.pos
	c.pos++ // opening quote
	for c.pos < len(c.in) {
		switch c.in[c.pos] {
		case '\\':
			c.pos += 2
		case '"':
			c.pos++
			return c.in[start:c.pos], nil
		default:
			c.pos++
		}
	}
	return nil, errNotCanonical
}

func (c *canonicalizer) array(dst []byte) ([]byte, error) {
	c.pos++ // [
	dst = append(dst, '[')
	for first := true; ; first = false {
		c.skipSpace()
		if c.pos >= len(c.in) {
			return nil, errNotCanonical
		}
		if c.in[c.pos] == ']' {
			c.pos++
			return append(dst, ']'), nil
		}
		if !first {
			if c.in[c.pos] != ',' {
				return nil, errNotCanonical
			}
			c.pos++
			c.skipSpace()
			dst = append(dst, ',')
		}
		var err error
		if dst, err = c.value(dst); err != nil {
			return nil, err
		}
	}
}

// member is one object member written into the output: its name (decoded
// when the token has escapes, so "\u0061" and "a" are one name) and where
// its canonical "name":value text sits.
type member struct {
	name       []byte
	start, end int
}

func (c *canonicalizer) object(dst []byte) ([]byte, error) {
	c.pos++ // {
	base := len(dst)
	dst = append(dst, '{')
	var small [8]member // most variables objects: no allocation
	members := small[:0]
	for first := true; ; first = false {
		c.skipSpace()
		if c.pos >= len(c.in) {
			return nil, errNotCanonical
		}
		if c.in[c.pos] == '}' {
			c.pos++
			break
		}
		if !first {
			if c.in[c.pos] != ',' {
				return nil, errNotCanonical
			}
			c.pos++
			c.skipSpace()
		}
		if c.pos >= len(c.in) || c.in[c.pos] != '"' {
			return nil, errNotCanonical
		}
		tok, err := c.str()
		if err != nil {
			return nil, err
		}
		name := tok[1 : len(tok)-1]
		if bytes.IndexByte(tok, '\\') >= 0 {
			var decoded string
			if err := json.Unmarshal(tok, &decoded); err != nil {
				return nil, errNotCanonical
			}
			// Written re-encoded, so equal names are equal text.
			if tok, err = json.Marshal(decoded); err != nil {
				return nil, errNotCanonical
			}
			name = []byte(decoded)
		}
		c.skipSpace()
		if c.pos >= len(c.in) || c.in[c.pos] != ':' {
			return nil, errNotCanonical
		}
		c.pos++
		c.skipSpace()
		if len(members) > 0 {
			dst = append(dst, ',')
		}
		start := len(dst)
		dst = append(dst, tok...)
		dst = append(dst, ':')
		if dst, err = c.value(dst); err != nil {
			return nil, err
		}
		members = append(members, member{name: name, start: start, end: len(dst)})
	}
	sorted := true
	for i := 1; sorted && i < len(members); i++ {
		sorted = bytes.Compare(members[i-1].name, members[i].name) < 0
	}
	if sorted {
		return append(dst, '}'), nil // written in order already
	}
	// Stable: of equal names the last one written is the last one kept,
	// which is the one encoding/json keeps.
	slices.SortStableFunc(members, func(a, b member) int { return bytes.Compare(a.name, b.name) })
	body := make([]byte, 0, len(dst)-base)
	for i, m := range members {
		if i+1 < len(members) && bytes.Equal(members[i+1].name, m.name) {
			continue
		}
		if len(body) > 0 {
			body = append(body, ',')
		}
		body = append(body, dst[m.start:m.end]...)
	}
	dst = append(dst[:base+1], body...)
	return append(dst, '}'), nil
}
