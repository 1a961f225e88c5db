package db

import (
	"strconv"
	"strings"
)

// Rebind rewrites the ? placeholders of query for dialect: unchanged for
// SQLite, $1, $2, ... in order of appearance for PostgreSQL.
//
// A ? inside a string literal ('...', including E'...' with backslash
// escapes), a quoted identifier ("..."), a dollar-quoted string ($tag$...$tag$)
// or a comment (-- to end of line, /* ... */) is left alone, so
// LIKE ? ESCAPE '\' and literal question marks survive. PostgreSQL operators
// spelled with ? (the jsonb ?, ?| and ?& operators) cannot be told apart from
// placeholders: write them as the equivalent functions (jsonb_exists, ...).
func Rebind(dialect Dialect, query string) string {
	if dialect != Postgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); {
		c := query[i]
		switch {
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			i++
			continue
		case c == '\'':
			end := skipQuoted(query, i, '\'', isEscapeString(query, i))
			b.WriteString(query[i:end])
			i = end
			continue
		case c == '"':
			end := skipQuoted(query, i, '"', false)
			b.WriteString(query[i:end])
			i = end
			continue
		case c == '-' && strings.HasPrefix(query[i:], "--"):
			end := strings.IndexByte(query[i:], '\n')
			if end < 0 {
				end = len(query) - i
			}
			b.WriteString(query[i : i+end])
			i += end
			continue
		case c == '/' && strings.HasPrefix(query[i:], "/*"):
			end := skipBlockComment(query, i)
			b.WriteString(query[i:end])
			i = end
			continue
		case c == '$':
			if end, ok := skipDollarQuoted(query, i); ok {
				b.WriteString(query[i:end])
				i = end
				continue
			}
		}
		b.WriteByte(c)
		i++
	}
	return b.String()
}

// skipQuoted returns the index just past the quoted section starting at
// query[start] == quote. A doubled quote is an escaped quote; with
// backslashes set, a backslash escapes the next byte. An unterminated section
// runs to the end of the query (the server will reject it anyway).
func skipQuoted(query string, start int, quote byte, backslashes bool) int {
	for i := start + 1; i < len(query); i++ {
		switch query[i] {
		case '\\':
			if backslashes {
				i++
			}
		case quote:
			if i+1 < len(query) && query[i+1] == quote {
				i++
				continue
			}
			return i + 1
		}
	}
	return len(query)
}

// isEscapeString reports whether the quote at query[quote] opens a
// PostgreSQL E'...' string, whose backslashes escape.
func isEscapeString(query string, quote int) bool {
	if quote == 0 || (query[quote-1] != 'E' && query[quote-1] != 'e') {
		return false
	}
	return quote == 1 || !isIdentByte(query[quote-2])
}

// skipBlockComment returns the index just past the /* ... */ comment
// starting at query[start]; PostgreSQL block comments nest.
func skipBlockComment(query string, start int) int {
	depth := 0
	for i := start; i < len(query)-1; i++ {
		switch {
		case query[i] == '/' && query[i+1] == '*':
			depth++
			i++
		case query[i] == '*' && query[i+1] == '/':
			depth--
			i++
			if depth == 0 {
				return i + 1
			}
		}
	}
	return len(query)
}

// skipDollarQuoted reports whether a dollar-quoted string ($$...$$ or
// $tag$...$tag$) starts at query[start] and, if so, the index just past it.
// $1 is a positional parameter, not a tag: tags cannot start with a digit.
func skipDollarQuoted(query string, start int) (int, bool) {
	if start > 0 && isIdentByte(query[start-1]) {
		return 0, false // part of an identifier such as a$b
	}
	j := start + 1
	for j < len(query) && query[j] != '$' {
		c := query[j]
		if !isIdentByte(c) || (j == start+1 && c >= '0' && c <= '9') {
			return 0, false
		}
		j++
	}
	if j >= len(query) {
		return 0, false
	}
	delim := query[start : j+1]
	end := strings.Index(query[j+1:], delim)
	if end < 0 {
		return len(query), true
	}
	return j + 1 + end + len(delim), true
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}
