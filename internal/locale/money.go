package locale

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/text/currency"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/number"
)

// ErrBadAmount is wrapped by FormatMoney's error for an amount that is not a
// plain decimal string.
var ErrBadAmount = errors.New("locale: malformed amount")

// ErrUnknownCurrency is wrapped by FormatMoney's error for a currency code
// that x/text/currency does not recognise as ISO 4217.
var ErrUnknownCurrency = errors.New("locale: unknown currency")

// maxAmountBytes bounds the amounts FormatMoney accepts. It is far beyond any
// price and keeps the work per call and the size of error messages bounded.
const maxAmountBytes = 64

// moneyFormat is a locale's money conventions, resolved from x/text once so
// that formatting a price needs neither a message.Printer nor any CLDR
// lookup for the common currencies.
type moneyFormat struct {
	printer *message.Printer // for symbols of currencies not in symbols

	minus, group, decimal string
	pos, neg              string // layouts, see profileDef

	// home is the currency of the locale's region; it is written with its
	// narrow symbol (see symbol).
	home    currency.Unit
	hasHome bool
	symbols map[currency.Unit]string
}

// cachedCurrencies get their symbols resolved at init for every locale: the
// currencies of the supported regions and the two other majors a catalog is
// likely to quote. Other currencies cost one message.Printer call each.
var cachedCurrencies = [...]currency.Unit{
	currency.CNY, currency.TWD, currency.HKD, currency.USD, currency.JPY,
	currency.EUR, currency.GBP,
}

func newMoneyFormat(tag language.Tag, p *message.Printer, pos, neg string) moneyFormat {
	minus, group, decimal, err := separators(p)
	if err != nil {
		// The locale table is fixed at compile time and covered by tests,
		// so this only fires for a locale added without checking it.
		panic(fmt.Sprintf("locale: %v: %v", tag, err))
	}
	f := moneyFormat{
		printer: p,
		minus:   minus,
		group:   group,
		decimal: decimal,
		pos:     pos,
		neg:     neg,
		symbols: make(map[currency.Unit]string, len(cachedCurrencies)),
	}
	f.home, f.hasHome = homeCurrency(tag)
	for _, u := range cachedCurrencies {
		f.symbols[u] = f.lookupSymbol(u)
	}
	return f
}

// separators learns the locale's minus sign, grouping separator and decimal
// separator from how x/text formats a known number. x/text has this data but
// does not export it; the probe also confirms that the locale groups digits
// by three with Latin digits, which the formatter assumes.
func separators(p *message.Printer) (minus, group, decimal string, err error) {
	s := p.Sprint(number.Decimal(-1234567.25, number.MinFractionDigits(2)))
	bad := fmt.Errorf("unexpected number shape %q for -1234567.25", s)
	i := strings.Index(s, "1")
	if i < 0 {
		return "", "", "", bad
	}
	minus, rest := s[:i], s[i+1:]
	i = strings.Index(rest, "234")
	if i <= 0 {
		return "", "", "", bad
	}
	group, rest = rest[:i], rest[i+3:]
	if !strings.HasPrefix(rest, group+"567") {
		return "", "", "", bad
	}
	rest = rest[len(group)+3:]
	decimal, ok := strings.CutSuffix(rest, "25")
	if !ok || decimal == "" || minus == "" {
		return "", "", "", bad
	}
	return minus, group, decimal, nil
}

// symbol returns the currency symbol a reader of this locale expects.
func (f *moneyFormat) symbol(u currency.Unit) string {
	if s, ok := f.symbols[u]; ok {
		return s
	}
	return f.lookupSymbol(u)
}

// lookupSymbol asks CLDR (through x/text) for u's symbol in this locale.
//
// The locale's home currency gets its narrow symbol and every other currency
// its standard one. A reader sees the bare symbol where the currency is
// unambiguous to them and a qualified one where it is not: mainland readers
// see CNY as "¥" while English readers see "CN¥", and a Japanese reader sees
// JPY as "￥" but CNY as "元". The standard zh symbol for CNY in x/text's
// CLDR data is the fullwidth "￥", which mainland storefronts do not print;
// the narrow symbol is the "¥" they do.
func (f *moneyFormat) lookupSymbol(u currency.Unit) string {
	if f.hasHome && u == f.home {
		return f.printer.Sprint(currency.NarrowSymbol(u))
	}
	return f.printer.Sprint(currency.Symbol(u))
}

// FormatMoney writes amount, a price in the given ISO 4217 currency, the way
// readers of l expect to see it: the locale's currency symbol, digit grouping
// and separators, and exactly as many fraction digits as the currency's
// standard scale in CLDR (2 for CNY and USD, 0 for JPY). For example, in
// zh-Hans-CN "1299.00" CNY is "¥1,299.00"; in en-US it is "CN¥1,299.00" and
// "-12.3" CNY is "-CN¥12.30"; in ja-JP "1299" JPY is "￥1,299".
//
// amount must be a plain decimal string: an optional '-', one or more ASCII
// digits, and optionally '.' followed by one or more digits ("1299.00",
// "-5.5", "0.99"); at most 64 bytes. Anything else, including "", "+1",
// ".5", "1.", "1e5", "1,299" and surrounding spaces, gives an error wrapping
// ErrBadAmount. The amount is handled as text throughout, so no digit is
// ever lost to floating point; leading zeros are dropped.
//
// Fraction digits beyond the currency's scale are rounded half to even
// (CLDR's default rounding), so "1299.5" JPY is "￥1,300" and "0.125" CNY
// is "¥0.12". Rounding rather than rejecting is what lets a JPY price stored
// as "1299.00" display. A negative amount that rounds to zero is written
// without a minus sign.
//
// currencyCode is matched case-insensitively, as by x/text's currency.ParseISO;
// a code it does not recognise gives an error wrapping ErrUnknownCurrency.
func (l Locale) FormatMoney(amount string, currencyCode string) (string, error) {
	neg, intPart, frac, err := parseAmount(amount)
	if err != nil {
		return "", err
	}
	u, err := currency.ParseISO(currencyCode)
	if err != nil {
		return "", fmt.Errorf("%w: %.16q is not an ISO 4217 code", ErrUnknownCurrency, currencyCode)
	}
	// CLDR's standard rounding increment is 1 for every currency (only cash
	// rounding has 5s and 50s), so the scale alone decides the digits; a
	// test pins that.
	scale, _ := currency.Standard.Rounding(u)

	var buf [maxAmountBytes + 8]byte
	digits := roundHalfEven(buf[:0], intPart, frac, scale)
	if neg && allZeros(digits) {
		neg = false
	}
	m := &l.profile().money
	return m.render(neg, digits, scale, m.symbol(u)), nil
}

// allZeros reports whether every byte of digits is '0'.
func allZeros(digits []byte) bool {
	for _, d := range digits {
		if d != '0' {
			return false
		}
	}
	return true
}

// parseAmount validates amount and splits it without copying.
func parseAmount(amount string) (neg bool, intPart, frac string, err error) {
	if len(amount) > maxAmountBytes {
		return false, "", "", fmt.Errorf("%w: %.16q... is longer than %d bytes", ErrBadAmount, amount, maxAmountBytes)
	}
	s := amount
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	}
	intPart, frac, hasPoint := strings.Cut(s, ".")
	if !allDigits(intPart) || (hasPoint && !allDigits(frac)) {
		return false, "", "", fmt.Errorf("%w: %q: want an optional '-', digits, and optionally '.' and more digits", ErrBadAmount, amount)
	}
	return neg, intPart, frac, nil
}

// allDigits reports whether s is non-empty and all ASCII digits.
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// roundHalfEven appends to dst the digits of intPart.frac rounded half to
// even at scale fraction digits, as one digit string whose last scale digits
// are the fraction. The integer part has no leading zeros but at least one
// digit.
func roundHalfEven(dst []byte, intPart, frac string, scale int) []byte {
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	dst = append(dst, intPart...)
	kept, dropped := frac, ""
	if len(frac) > scale {
		kept, dropped = frac[:scale], frac[scale:]
	}
	dst = append(dst, kept...)
	for range scale - len(kept) {
		dst = append(dst, '0')
	}
	if dropped == "" || !roundsUp(dst[len(dst)-1], dropped) {
		return dst
	}
	for i := len(dst) - 1; i >= 0; i-- {
		if dst[i] != '9' {
			dst[i]++
			return dst
		}
		dst[i] = '0'
	}
	// Carried out of the top digit (999.995 -> 1000.00).
	dst = append(dst, 0)
	copy(dst[1:], dst)
	dst[0] = '1'
	return dst
}

// roundsUp decides half-to-even rounding given the last kept digit and the
// digits dropped after it.
func roundsUp(last byte, dropped string) bool {
	switch {
	case dropped[0] > '5':
		return true
	case dropped[0] < '5':
		return false
	case strings.TrimRight(dropped[1:], "0") != "":
		return true // above the half
	default:
		return (last-'0')%2 == 1 // exactly half: round to even
	}
}

// render lays out an already rounded amount per the locale's pattern.
func (f *moneyFormat) render(neg bool, digits []byte, scale int, sym string) string {
	layout := f.pos
	if neg {
		layout = f.neg
	}
	intDigits, fracDigits := digits[:len(digits)-scale], digits[len(digits)-scale:]

	var b strings.Builder
	b.Grow(len(layout) + len(f.minus) + len(sym) + len(digits) +
		len(intDigits)/3*len(f.group) + len(f.decimal))
	for _, r := range layout {
		switch r {
		case '¤':
			b.WriteString(sym)
		case '-':
			b.WriteString(f.minus)
		case '#':
			first := len(intDigits) % 3
			if first == 0 {
				first = 3
			}
			b.Write(intDigits[:first])
			for i := first; i < len(intDigits); i += 3 {
				b.WriteString(f.group)
				b.Write(intDigits[i : i+3])
			}
			if scale > 0 {
				b.WriteString(f.decimal)
				b.Write(fracDigits)
			}
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// homeCurrency is the currency of the locale's region, e.g. CNY for
// zh-Hans-CN. ok is false if x/text knows none.
func homeCurrency(tag language.Tag) (currency.Unit, bool) {
	r, _ := tag.Region()
	return currency.FromRegion(r)
}
