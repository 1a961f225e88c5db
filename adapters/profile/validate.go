package profile

import (
	"errors"
	"fmt"
	"meridian/internal/fielderr"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/language"
	"golang.org/x/text/unicode/norm"
)

// Limits of the values a profile holds. Lengths of texts are counted in
// Unicode code points after NFC normalization, so a Chinese name of 40
// characters fits; the email limit is in bytes, as RFC 5321 counts it.
const (
	MaxAddresses       = 10  // addresses per profile
	MaxNameRunes       = 40  // DisplayName and Address.RecipientName
	MaxRegionRunes     = 20  // Address.Province, City and District
	MaxLineRunes       = 100 // Address.Line1 and Line2
	MaxEmailBytes      = 254 // the longest address SMTP can carry
	maxEmailLocalBytes = 64
	// maxLocaleBytes is the length RFC 5646 section 4.4.1 asks every
	// implementation to support; nothing longer is a plausible preference.
	maxLocaleBytes = 35
	maxIDBytes     = 255
)

// mobileFormat is a mainland China mobile number after normalization.
var mobileFormat = regexp.MustCompile(`^1[3-9][0-9]{9}$`)

// postalCodeFormat is a mainland China postal code.
var postalCodeFormat = regexp.MustCompile(`^[0-9]{6}$`)

// chinaStandardTime decides what "today" is for birthdays: the customers are
// in mainland China, which keeps UTC+8 all year. A fixed zone rather than
// Asia/Shanghai keeps the answer independent of the host's time zone
// database.
var chinaStandardTime = time.FixedZone("CST", 8*60*60)

// earliestBirthday is the earliest birthday accepted: anything before is a
// typing mistake, not a customer.
var earliestBirthday = Date{Year: 1900, Month: time.January, Day: 1}

// FieldError is one invalid field of a write. It wraps ErrInvalidInput.
//
// Field is the GraphQL input path of the field ("displayName", "skin.type",
// "addresses[2].postalCode"; "subject", "consultantId", "first" for
// arguments). Reason says what a valid value looks like and never contains
// the rejected value, so the error is safe to log and to show the person
// who sent it.
type FieldError = fielderr.Error

// fieldError returns an invalid-field error of this store.
func fieldError(field, reason string) *FieldError {
	return fielderr.New("profile", ErrInvalidInput, field, reason)
}

// FieldErrors returns every *FieldError in err's tree (a write reports all
// its invalid fields at once), in order, or nil when there is none.
func FieldErrors(err error) []*FieldError { return fielderr.All(err) }

// problems collects the FieldErrors of one validation.
type problems []error

func (p *problems) add(field, reason string) {
	*p = append(*p, fieldError(field, reason))
}

func (p problems) err() error { return errors.Join(p...) }

// checkID validates an opaque identifier: a subject id issued by the global
// identity provider, a consultant id or an address id. They are never
// personal data, but they end up in SQL keys and logs, so they are held to
// printable ASCII without spaces.
func checkID(field, id string) error {
	if id == "" || len(id) > maxIDBytes {
		return fieldError(field, fmt.Sprintf("must be 1 to %d characters", maxIDBytes))
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return fieldError(field, "must be printable ASCII without spaces")
		}
	}
	return nil
}

const mobileReason = "must be a mainland China mobile number: 11 digits starting with 13 to 19, optionally after +86, spaces and dashes allowed between digits"

// NormalizeMobile returns the 11-digit form of a mainland China mobile
// number, the form the store keeps. It accepts the number with a leading
// +86 and with spaces or dashes between digits ("+86 138-1234-5678");
// 0086, parentheses and full-width digits are not accepted. The error says
// what is expected and does not contain s.
func NormalizeMobile(s string) (string, error) {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "+86"); ok {
		s = strings.TrimLeft(rest, " -")
	}
	if s == "" || !isASCIIDigit(s[0]) || !isASCIIDigit(s[len(s)-1]) {
		return "", errors.New(mobileReason)
	}
	digits := strings.NewReplacer(" ", "", "-", "").Replace(s)
	if !mobileFormat.MatchString(digits) {
		return "", errors.New(mobileReason)
	}
	return digits, nil
}

// MaskMobile returns a mobile number with its middle four digits hidden, as
// Chinese apps show them: "13812345678" becomes "138****5678". Input that
// NormalizeMobile accepts is normalized first; anything else masks to
// "***", so no part of a malformed value leaks.
func MaskMobile(s string) string {
	m, err := NormalizeMobile(s)
	if err != nil {
		return "***"
	}
	return m[:3] + "****" + m[7:]
}

// MaskEmail returns an email with all of its local part but the first
// character hidden: "wang.fang@example.cn" becomes "w***@example.cn".
// Anything that is not a plain address masks to "***".
func MaskEmail(s string) string {
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || domain == "" {
		return "***"
	}
	first, _ := utf8.DecodeRuneInString(local)
	return string(first) + "***@" + domain
}

const emailReason = "must be one email address such as name@example.com, at most 254 characters"

// normalizeEmail validates a bare email address (no display name, no angle
// brackets, no quoted local part, a dotted domain name) and lowercases its
// domain, which is case-insensitive; the local part is kept as written
// because mail servers may treat its case as significant.
func normalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > MaxEmailBytes {
		return "", errors.New(emailReason)
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		return "", errors.New(emailReason)
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], s[at+1:]
	if len(local) > maxEmailLocalBytes || strings.HasPrefix(domain, "[") || !strings.Contains(domain, ".") ||
		strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", errors.New(emailReason)
	}
	return local + "@" + strings.ToLower(domain), nil
}

// normalizeText validates a free-text field: NFC-normalized, trimmed of
// surrounding spaces, minRunes to maxRunes code points long, and free of
// characters that would corrupt how it displays or is processed: control
// characters (tabs and newlines included), line and paragraph separators,
// and invisible formatting characters such as bidirectional overrides and
// zero-width spaces. Zero-width joiner and non-joiner stay allowed: emoji
// sequences and some scripts need them.
func normalizeText(p *problems, field, s string, minRunes, maxRunes int) string {
	if !utf8.ValidString(s) {
		p.add(field, "must be valid UTF-8 text")
		return ""
	}
	s = strings.TrimFunc(norm.NFC.String(s), func(r rune) bool {
		return unicode.IsSpace(r) && !unicode.IsControl(r)
	})
	for _, r := range s {
		if forbiddenRune(r) {
			p.add(field, "must not contain control, line-break or invisible formatting characters")
			return ""
		}
	}
	if n := utf8.RuneCountInString(s); n < minRunes || n > maxRunes {
		if minRunes == 0 {
			p.add(field, fmt.Sprintf("must be at most %d characters", maxRunes))
		} else {
			p.add(field, fmt.Sprintf("must be %d to %d characters", minRunes, maxRunes))
		}
		return ""
	}
	return s
}

func forbiddenRune(r rune) bool {
	switch {
	case r == '\u200c' || r == '\u200d': // zero-width non-joiner, joiner
		return false
	case r == utf8.RuneError:
		return true
	default:
		return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) || isNoncharacter(r)
	}
}

// isNoncharacter reports the code points Unicode reserves as never being
// characters (U+FDD0..U+FDEF and the last two of every plane).
func isNoncharacter(r rune) bool {
	return (r >= 0xFDD0 && r <= 0xFDEF) || r&0xFFFE == 0xFFFE
}

const localeReason = "must be a well-formed BCP 47 language tag such as zh-Hans-CN or en-US"

// normalizeLocale validates a BCP 47 language tag with
// golang.org/x/text/language and returns its canonical form ("zh-cn"
// becomes "zh-CN"). It rejects underscores (a POSIX locale spelling, not
// BCP 47), unknown subtags, and tags without a language ("und", private use
// only), which state no preference.
func normalizeLocale(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxLocaleBytes || strings.Contains(s, "_") {
		return "", errors.New(localeReason)
	}
	tag, err := language.Parse(s)
	if err != nil {
		return "", errors.New(localeReason)
	}
	if base, _, _ := tag.Raw(); base.String() == "und" {
		return "", errors.New(localeReason)
	}
	return tag.String(), nil
}

// checkBirthday accepts a calendar date from 1900-01-01 to today in China
// Standard Time.
func checkBirthday(d Date, now time.Time) error {
	switch {
	case !d.Valid():
		return errors.New("must be a calendar date")
	case d.Before(earliestBirthday):
		return errors.New("must be on or after 1900-01-01")
	case DateOf(now.In(chinaStandardTime)).Before(d):
		return errors.New("must not be in the future")
	}
	return nil
}

// normalizeSkin validates the skin type and concerns against their fixed
// sets and returns the concerns de-duplicated in SkinConcerns order.
func normalizeSkin(p *problems, s SkinProfile) SkinProfile {
	if s.Type != "" && !slices.Contains(SkinTypes(), s.Type) {
		p.add("skin.type", "must be one of "+joinValues(SkinTypes()))
	}
	seen := make(map[SkinConcern]bool, len(s.Concerns))
	for i, c := range s.Concerns {
		if !slices.Contains(SkinConcerns(), c) {
			p.add(fmt.Sprintf("skin.concerns[%d]", i), "must be one of "+joinValues(SkinConcerns()))
			continue
		}
		seen[c] = true
	}
	var concerns []SkinConcern
	for _, c := range SkinConcerns() {
		if seen[c] {
			concerns = append(concerns, c)
		}
	}
	return SkinProfile{Type: s.Type, Concerns: concerns}
}

func joinValues[T ~string](values []T) string {
	s := make([]string, len(values))
	for i, v := range values {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// normalizeAddresses validates the field values of an address list. That
// IDs name existing addresses is checked against the stored profile by
// resolveAddresses.
func normalizeAddresses(p *problems, in []Address) []Address {
	if len(in) > MaxAddresses {
		p.add("addresses", fmt.Sprintf("must hold at most %d addresses", MaxAddresses))
		return nil
	}
	out := make([]Address, len(in))
	ids := make(map[string]bool, len(in))
	defaults := 0
	for i, a := range in {
		f := func(name string) string { return fmt.Sprintf("addresses[%d].%s", i, name) }
		if a.ID != "" {
			if err := checkID(f("id"), a.ID); err != nil {
				*p = append(*p, err)
			} else if ids[a.ID] {
				p.add(f("id"), "names an address listed twice")
			}
			ids[a.ID] = true
		}
		n := Address{ID: a.ID, IsDefault: a.IsDefault}
		n.RecipientName = normalizeText(p, f("recipientName"), a.RecipientName, 1, MaxNameRunes)
		if m, err := NormalizeMobile(a.RecipientMobile); err != nil {
			p.add(f("recipientMobile"), err.Error())
		} else {
			n.RecipientMobile = m
		}
		n.Province = normalizeText(p, f("province"), a.Province, 1, MaxRegionRunes)
		n.City = normalizeText(p, f("city"), a.City, 1, MaxRegionRunes)
		n.District = normalizeText(p, f("district"), a.District, 0, MaxRegionRunes)
		n.Line1 = normalizeText(p, f("line1"), a.Line1, 1, MaxLineRunes)
		n.Line2 = normalizeText(p, f("line2"), a.Line2, 0, MaxLineRunes)
		if pc := strings.TrimSpace(a.PostalCode); pc != "" && !postalCodeFormat.MatchString(pc) {
			p.add(f("postalCode"), "must be 6 digits")
		} else {
			n.PostalCode = pc
		}
		if a.IsDefault {
			defaults++
		}
		out[i] = n
	}
	if defaults > 1 {
		p.add("addresses", "at most one address can be the default")
	}
	if defaults == 0 && len(out) > 0 {
		out[0].IsDefault = true
	}
	return out
}

// normalizePatch validates every field patch sets and returns the patch
// with its values normalized, or all field errors joined. now decides
// which birthdays are in the future.
func normalizePatch(in Patch, now time.Time) (Patch, error) {
	var p problems
	var out Patch
	if in.DisplayName != nil {
		name := normalizeText(&p, "displayName", *in.DisplayName, 1, MaxNameRunes)
		out.DisplayName = &name
	}
	if in.Mobile != nil {
		m := ""
		if strings.TrimSpace(*in.Mobile) != "" {
			var err error
			if m, err = NormalizeMobile(*in.Mobile); err != nil {
				p.add("mobile", err.Error())
			}
		}
		out.Mobile = &m
	}
	if in.Email != nil {
		e := ""
		if strings.TrimSpace(*in.Email) != "" {
			var err error
			if e, err = normalizeEmail(*in.Email); err != nil {
				p.add("email", err.Error())
			}
		}
		out.Email = &e
	}
	if in.Addresses != nil {
		addrs := normalizeAddresses(&p, *in.Addresses)
		out.Addresses = &addrs
	}
	if in.Birthday != nil {
		d := *in.Birthday
		if !d.IsZero() {
			if err := checkBirthday(d, now); err != nil {
				p.add("birthday", err.Error())
			}
		}
		out.Birthday = &d
	}
	if in.Locale != nil {
		l := ""
		if strings.TrimSpace(*in.Locale) != "" {
			var err error
			if l, err = normalizeLocale(*in.Locale); err != nil {
				p.add("locale", err.Error())
			}
		}
		out.Locale = &l
	}
	if in.Skin != nil {
		s := normalizeSkin(&p, *in.Skin)
		out.Skin = &s
	}
	if in.ConsultantID != nil {
		c := *in.ConsultantID
		if c != "" {
			if err := checkID("consultantId", c); err != nil {
				p = append(p, err)
			}
		}
		out.ConsultantID = &c
	}
	if err := p.err(); err != nil {
		return Patch{}, err
	}
	return out, nil
}

func isASCIIDigit(c byte) bool { return c >= '0' && c <= '9' }
