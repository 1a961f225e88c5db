// Package locale decides which language and regional conventions a request is
// served in, and renders the locale-sensitive parts of a response: which
// translation of a catalog text to show and how a price is written.
//
// Locale belongs to the request, never to the process. A request's Locale
// comes from its Accept-Language header (Negotiate) or from an explicit
// `locale` argument on a GraphQL field (Parse), travels in the request's
// context (WithLocale, FromContext), and is echoed in Content-Language
// (Locale.String).
//
// Meridian serves five locales: zh-Hans-CN (the default, since the catalog is
// sold in mainland China), zh-Hant-TW, zh-Hant-HK, en-US and ja-JP. Matching
// a requested tag to one of them is left to the CLDR-based matcher in
// golang.org/x/text/language, so regional and script variants ("zh-SG",
// "zh-MO", "en-GB", "zh-Hant") land where a reader of them expects.
//
// Everything here is safe for concurrent use: the package holds only tables
// built once at initialisation and never changed afterwards.
package locale

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// ErrUnsupported is wrapped by every error Parse returns: the tag was not a
// well-formed BCP 47 tag, or it names a language Meridian does not serve.
var ErrUnsupported = errors.New("locale: unsupported locale")

// Locale is a negotiated locale: one of the supported tags and the content
// fallback chain that goes with it.
//
// Locale is a small comparable value; pass it by value and compare it with ==.
// The zero Locale is the default locale (zh-Hans-CN), so an unset field or a
// missed context value still renders sensibly rather than in no language.
type Locale struct {
	// idx indexes profiles. Index 0 is the default, which is what makes the
	// zero value usable.
	idx uint8
}

// profileDef is the hand-written part of a supported locale.
type profileDef struct {
	tag string
	// chain is the order in which content locale keys are tried by Pick.
	chain []string
	// pos and neg lay out a money amount: '¤' stands for the currency
	// symbol, '#' for the grouped number, '-' for the locale's minus sign;
	// any other rune is copied literally. x/text exposes no currency
	// patterns, so these are transcribed from CLDR.
	pos, neg string
}

// defs lists the supported locales. The first is the default: it is also the
// matcher's fallback, and Locale's zero value refers to it.
//
// en-GB is deliberately absent: British readers are served en-US (the matcher
// maps them there with High confidence), and a second English variant would
// render identical pages under a second cache key.
var defs = [...]profileDef{
	{tag: "zh-Hans-CN", chain: []string{"zh-Hans", "en"}, pos: "¤#", neg: "-¤#"},
	{tag: "zh-Hant-TW", chain: []string{"zh-Hant", "zh-Hans", "en"}, pos: "¤#", neg: "-¤#"},
	{tag: "zh-Hant-HK", chain: []string{"zh-Hant", "zh-Hans", "en"}, pos: "¤#", neg: "-¤#"},
	{tag: "en-US", chain: []string{"en", "zh-Hans"}, pos: "¤#", neg: "-¤#"},
	{tag: "ja-JP", chain: []string{"ja", "en", "zh-Hans"}, pos: "¤#", neg: "-¤#"},
}

// profile is everything a Locale needs at run time, derived once from its
// profileDef and x/text. It is never modified after init.
type profile struct {
	tag   language.Tag
	name  string
	chain []string
	money moneyFormat
}

var (
	profiles = buildProfiles()

	// matcher is read-only after construction and safe for concurrent use.
	matcher = newMatcher()

	// supportedNames is the list quoted in error messages.
	supportedNames = supportedList()
)

func buildProfiles() []profile {
	ps := make([]profile, len(defs))
	for i, d := range defs {
		tag := language.MustParse(d.tag)
		ps[i] = profile{
			tag:   tag,
			name:  tag.String(),
			chain: d.chain,
			money: newMoneyFormat(tag, message.NewPrinter(tag), d.pos, d.neg),
		}
	}
	return ps
}

func newMatcher() language.Matcher {
	tags := make([]language.Tag, len(profiles))
	for i, p := range profiles {
		tags[i] = p.tag
	}
	return language.NewMatcher(tags)
}

func supportedList() string {
	names := make([]string, len(profiles))
	for i, p := range profiles {
		names[i] = p.name
	}
	return strings.Join(names, ", ")
}

// Default returns the locale served when a request expresses no usable
// preference: zh-Hans-CN. It equals the zero Locale.
func Default() Locale { return Locale{} }

// Supported returns every supported locale, the default first. The slice is
// freshly allocated; callers may modify it.
func Supported() []Locale {
	ls := make([]Locale, len(profiles))
	for i := range ls {
		ls[i] = Locale{idx: uint8(i)}
	}
	return ls
}

func (l Locale) profile() *profile {
	if int(l.idx) >= len(profiles) {
		// Unreachable through the API: Locales are only made from indexes
		// into profiles. Falling back beats panicking mid-response.
		return &profiles[0]
	}
	return &profiles[l.idx]
}

// Tag returns the supported BCP 47 tag this locale was negotiated to, e.g.
// zh-Hant-HK for a request that asked for "zh-MO". It carries no extensions
// from the request.
func (l Locale) Tag() language.Tag { return l.profile().tag }

// String returns the canonical BCP 47 form of Tag, e.g. "zh-Hans-CN", suitable
// for a Content-Language header.
func (l Locale) String() string { return l.profile().name }

// Key returns a short string that identifies the locale in cache keys. It is
// stable across releases for as long as the locale is supported, and distinct
// for distinct Locales. It currently equals String.
func (l Locale) Key() string { return l.profile().name }

// Fallback returns the content locale keys Pick tries, most preferred first,
// e.g. ["zh-Hant", "zh-Hans", "en"] for zh-Hant-HK. The slice is a copy.
func (l Locale) Fallback() []string {
	return append([]string(nil), l.profile().chain...)
}

// Pick returns the text a reader of l should see out of texts, which maps
// content locale keys ("zh-Hans", "zh-Hant", "en", ...) to translations.
//
// It returns the first non-empty text along l's fallback chain. If none of
// those keys has text, it returns the non-empty text with the smallest key in
// byte order, so that a product translated only into a language outside the
// chain still shows a name, and the same one on every request. It returns ""
// only if texts has no non-empty text at all (including when texts is nil).
func (l Locale) Pick(texts map[string]string) string {
	for _, k := range l.profile().chain {
		if t := texts[k]; t != "" {
			return t
		}
	}
	var bestKey, best string
	for k, t := range texts {
		if t != "" && (best == "" || k < bestKey) {
			bestKey, best = k, t
		}
	}
	return best
}

// Limits on the Accept-Language header. Real browsers send a handful of
// entries in well under 200 bytes; the caps keep a hostile header from buying
// unbounded parsing and matching work.
const (
	maxHeaderBytes  = 1024
	maxHeaderFields = 16
)

// Negotiate picks the locale for a request from its Accept-Language header.
//
// It never fails: an empty, malformed or entirely unsupported header yields
// Default. Entries are ranked by q-value (ties keep header order); entries
// with q=0, a malformed q, a malformed tag or the "*" wildcard are ignored
// individually, so one bad entry does not discard the rest. Only the first
// 16 entries within the first 1 KiB are considered.
//
// Matching follows golang.org/x/text/language's Matcher, e.g. "zh", "zh-CN"
// and "zh-SG" give zh-Hans-CN; "zh-TW" and "zh-Hant" give zh-Hant-TW; "zh-HK"
// and "zh-MO" give zh-Hant-HK; any English gives en-US; "ja" gives ja-JP.
// When the matcher's confidence is No (say "fr-FR" or "ko") the result is
// Default, not the matcher's own guess: x/text then returns whichever
// supported tag it considers least bad, which may be en-US for one
// unsupported language and zh-Hans-CN for another.
func Negotiate(acceptLanguage string) Locale {
	h := acceptLanguage
	if len(h) > maxHeaderBytes {
		// Drop the entry the cut went through rather than parse half a tag
		// ("zh-Hant-TW" cut to "zh-Ha" would still be a valid tag).
		i := strings.LastIndexByte(h[:maxHeaderBytes], ',')
		if i < 0 {
			return Default()
		}
		h = h[:i]
	}

	var (
		buf  [maxHeaderFields]language.Tag
		qbuf [maxHeaderFields]int
		n    int
	)
	for fields := 0; fields < maxHeaderFields && h != ""; fields++ {
		var entry string
		entry, h, _ = strings.Cut(h, ",")
		tag, q, ok := parseEntry(entry)
		if !ok {
			continue
		}
		// Insertion sort by descending q; stable, so equal q keeps header
		// order. At most 16 entries, so this beats sort.SliceStable.
		j := n
		for j > 0 && qbuf[j-1] < q {
			buf[j], qbuf[j] = buf[j-1], qbuf[j-1]
			j--
		}
		buf[j], qbuf[j] = tag, q
		n++
	}
	if n == 0 {
		return Default()
	}
	_, idx, conf := matcher.Match(buf[:n]...)
	if conf == language.No || idx < 0 || idx >= len(profiles) {
		return Default()
	}
	return Locale{idx: uint8(idx)}
}

// parseEntry parses one Accept-Language list member, "tag[;q=value][;...]".
// q is in thousandths. ok is false for entries to ignore.
func parseEntry(entry string) (tag language.Tag, q int, ok bool) {
	name, params, _ := strings.Cut(entry, ";")
	name = strings.TrimSpace(name)
	if name == "" || name == "*" {
		return language.Tag{}, 0, false
	}
	q = 1000
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, found := strings.Cut(p, "=")
		if !found || !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue // RFC 9110 defines no other parameter here; skip it
		}
		if q, ok = parseQ(strings.TrimSpace(v)); !ok {
			return language.Tag{}, 0, false
		}
	}
	if q == 0 {
		return language.Tag{}, 0, false // q=0 means "not acceptable"
	}
	tag, err := language.Parse(name)
	if err != nil {
		return language.Tag{}, 0, false
	}
	return tag, q, true
}

// parseQ parses an RFC 9110 qvalue ("0", "0.8", "1.000") into thousandths,
// without going through floating point.
func parseQ(s string) (int, bool) {
	if s == "" || len(s) > 5 || (s[0] != '0' && s[0] != '1') {
		return 0, false
	}
	q := int(s[0]-'0') * 1000
	if len(s) == 1 {
		return q, true
	}
	if s[1] != '.' {
		return 0, false
	}
	scale := 100
	for _, c := range []byte(s[2:]) {
		if c < '0' || c > '9' {
			return 0, false
		}
		q += int(c-'0') * scale
		scale /= 10
	}
	if q > 1000 {
		return 0, false
	}
	return q, true
}

// maxTagBytes bounds what Parse will look at. The longest tag a client has a
// reason to send, with a region and a couple of extensions, fits easily.
const maxTagBytes = 128

// Parse resolves an explicitly requested locale, such as the `locale`
// argument of a GraphQL field.
//
// It accepts any well-formed BCP 47 tag that x/text's matcher maps to a
// supported locale with at least Low confidence: "zh-TW", "zh-Hant-HK",
// "en", "en-GB", "ja" and "zh_CN" all resolve. Unlike Negotiate it does not
// fall back to the default: a caller that names a locale explicitly should
// learn that it is not served rather than silently get Chinese. The returned
// error wraps ErrUnsupported for empty, over-long (more than 128 bytes) or
// malformed tags and for unsupported languages such as "de-DE"; its message
// lists the supported locales.
func Parse(tag string) (Locale, error) {
	if tag == "" {
		return Locale{}, fmt.Errorf("%w: empty tag (supported: %s)", ErrUnsupported, supportedNames)
	}
	if len(tag) > maxTagBytes {
		return Locale{}, fmt.Errorf("%w: tag longer than %d bytes (supported: %s)", ErrUnsupported, maxTagBytes, supportedNames)
	}
	t, err := language.Parse(tag)
	if err != nil {
		return Locale{}, fmt.Errorf("%w: %.32q is not a well-formed BCP 47 tag (supported: %s)", ErrUnsupported, tag, supportedNames)
	}
	_, idx, conf := matcher.Match(t)
	if conf == language.No || idx < 0 || idx >= len(profiles) {
		return Locale{}, fmt.Errorf("%w: %.32q is not served (supported: %s)", ErrUnsupported, tag, supportedNames)
	}
	return Locale{idx: uint8(idx)}, nil
}
