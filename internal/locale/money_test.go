package locale

import (
	"errors"
	"math/big"
	"strings"
	"testing"

	"golang.org/x/text/currency"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

func mustParse(t testing.TB, tag string) Locale {
	t.Helper()
	l, err := Parse(tag)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestFormatMoney(t *testing.T) {
	tests := []struct {
		locale, amount, currency string
		want                     string
	}{
		// The CNY list price in every supported locale.
		{"zh-Hans-CN", "1299.00", "CNY", "¥1,299.00"},
		{"en-US", "1299.00", "CNY", "CN¥1,299.00"},
		{"zh-Hant-TW", "1299.00", "CNY", "CN¥1,299.00"},
		{"zh-Hant-HK", "1299.00", "CNY", "CN¥1,299.00"},
		{"ja-JP", "1299.00", "CNY", "元1,299.00"},

		// Padding to the currency's scale, grouping, sign.
		{"en-US", "1234567.5", "CNY", "CN¥1,234,567.50"},
		{"en-US", "0.5", "CNY", "CN¥0.50"},
		{"en-US", "-12.30", "CNY", "-CN¥12.30"},
		{"zh-Hans-CN", "-5.5", "CNY", "-¥5.50"},
		{"zh-Hans-CN", "0.99", "CNY", "¥0.99"},
		{"zh-Hans-CN", "0", "CNY", "¥0.00"},
		{"zh-Hans-CN", "100", "CNY", "¥100.00"},
		{"zh-Hans-CN", "1000", "CNY", "¥1,000.00"},
		{"zh-Hans-CN", "123456", "CNY", "¥123,456.00"},
		{"zh-Hans-CN", "0001299.00", "CNY", "¥1,299.00"},
		{"zh-Hans-CN", "1234567890123456789012345.67", "CNY", "¥1,234,567,890,123,456,789,012,345.67"},

		// Home currency gets the narrow symbol, others the standard one.
		{"en-US", "1299", "USD", "$1,299.00"},
		{"zh-Hans-CN", "1299", "USD", "US$1,299.00"},
		{"zh-Hant-TW", "1299", "TWD", "$1,299.00"},
		{"zh-Hant-HK", "1299", "HKD", "$1,299.00"},
		{"zh-Hant-TW", "1299", "HKD", "HK$1,299.00"},
		{"en-US", "1299", "EUR", "€1,299.00"},
		{"en-US", "1299", "cny", "CN¥1,299.00"},
		{"en-US", "1299", "CHF", "CHF1,299.00"}, // not cached: looked up per call

		// JPY has no fraction digits; extra ones round half to even.
		{"ja-JP", "1299", "JPY", "￥1,299"},
		{"ja-JP", "1299.00", "JPY", "￥1,299"},
		{"ja-JP", "1299.5", "JPY", "￥1,300"},
		{"ja-JP", "1298.5", "JPY", "￥1,298"},
		{"ja-JP", "1298.51", "JPY", "￥1,299"},
		{"ja-JP", "1299.49", "JPY", "￥1,299"},
		{"zh-Hans-CN", "1299", "JPY", "JP¥1,299"},
		{"en-US", "999.5", "JPY", "¥1,000"},

		// Half-even rounding at scale 2.
		{"zh-Hans-CN", "0.125", "CNY", "¥0.12"},
		{"zh-Hans-CN", "0.135", "CNY", "¥0.14"},
		{"zh-Hans-CN", "0.1250001", "CNY", "¥0.13"},
		{"zh-Hans-CN", "0.12499", "CNY", "¥0.12"},
		{"zh-Hans-CN", "999999.995", "CNY", "¥1,000,000.00"},
		{"zh-Hans-CN", "-0.004", "CNY", "¥0.00"},
		{"zh-Hans-CN", "-0", "CNY", "¥0.00"},
		{"zh-Hans-CN", "-0.005", "CNY", "¥0.00"},
		{"zh-Hans-CN", "-0.015", "CNY", "-¥0.02"},

		// Currencies with three fraction digits.
		{"en-US", "1.5", "KWD", "KWD1.500"},
	}
	for _, tt := range tests {
		t.Run(tt.locale+" "+tt.amount+" "+tt.currency, func(t *testing.T) {
			l := mustParse(t, tt.locale)
			got, err := l.FormatMoney(tt.amount, tt.currency)
			if err != nil {
				t.Fatalf("FormatMoney(%q, %q) in %s: got error %v, want %q", tt.amount, tt.currency, l, err, tt.want)
			}
			if got != tt.want {
				t.Errorf("FormatMoney(%q, %q) in %s = %q, want %q", tt.amount, tt.currency, l, got, tt.want)
			}
		})
	}
}

func TestFormatMoneyBadAmount(t *testing.T) {
	for _, amount := range []string{
		"", "abc", "1.2.3", "1e5", " 12", "12 ", "+12", "--1", "-", ".5", "1.",
		"1,299.00", "１２", "0x10", "NaN", "Inf", "1_000", "-.5", "٣",
		strings.Repeat("9", 65),
	} {
		t.Run(amount, func(t *testing.T) {
			got, err := Default().FormatMoney(amount, "CNY")
			if err == nil {
				t.Fatalf("FormatMoney(%q) = %q, want an error", amount, got)
			}
			if !errors.Is(err, ErrBadAmount) {
				t.Errorf("FormatMoney(%q) error %v, want one wrapping ErrBadAmount", amount, err)
			}
			if got != "" {
				t.Errorf("FormatMoney(%q) = %q alongside an error, want \"\"", amount, got)
			}
		})
	}
}

func TestFormatMoneyUnknownCurrency(t *testing.T) {
	for _, code := range []string{"", "ABC", "BTC", "CN", "CNYX", "¥", "RMB"} {
		t.Run(code, func(t *testing.T) {
			got, err := Default().FormatMoney("1.00", code)
			if err == nil {
				t.Fatalf("FormatMoney(%q) = %q, want an error", code, got)
			}
			if !errors.Is(err, ErrUnknownCurrency) {
				t.Errorf("FormatMoney(%q) error %v, want one wrapping ErrUnknownCurrency", code, err)
			}
		})
	}
}

// TestStandardIncrementIsOne pins the assumption FormatMoney makes: CLDR's
// standard rounding is always to whole units of the currency's scale.
func TestStandardIncrementIsOne(t *testing.T) {
	n := 0
	for it := currency.Query(currency.Historical, currency.NonTender); it.Next(); n++ {
		if _, inc := currency.Standard.Rounding(it.Unit()); inc != 1 {
			t.Errorf("%v: standard rounding increment %d, want 1", it.Unit(), inc)
		}
	}
	if n < 100 {
		t.Errorf("currency.Query visited %d currencies, want the whole table", n)
	}
}

func TestSeparators(t *testing.T) {
	for _, l := range Supported() {
		m := l.profile().money
		if m.minus != "-" || m.group != "," || m.decimal != "." {
			t.Errorf("%s: minus %q group %q decimal %q, want \"-\" \",\" \".\"", l, m.minus, m.group, m.decimal)
		}
	}
}

// TestLayouts checks every locale's layout strings and exercises the layout
// machinery beyond the prefix patterns current locales use.
func TestLayouts(t *testing.T) {
	for _, d := range defs {
		for _, layout := range []string{d.pos, d.neg} {
			if strings.Count(layout, "¤") != 1 || strings.Count(layout, "#") != 1 {
				t.Errorf("%s: layout %q, want exactly one ¤ and one #", d.tag, layout)
			}
		}
		if !strings.Contains(d.neg, "-") {
			t.Errorf("%s: negative layout %q has no minus sign", d.tag, d.neg)
		}
	}
	m := newMoneyFormat(language.German, message.NewPrinter(language.German), "# ¤", "-# ¤")
	tests := []struct {
		neg    bool
		digits string
		want   string
	}{
		{false, "129900", "1.299,00 €"},
		{true, "1230", "-12,30 €"},
	}
	for _, tt := range tests {
		if got := m.render(tt.neg, []byte(tt.digits), 2, "€"); got != tt.want {
			t.Errorf("render(%v, %s) = %q, want %q", tt.neg, tt.digits, got, tt.want)
		}
	}
}

func FuzzFormatMoney(f *testing.F) {
	for _, s := range []struct{ amount, code string }{
		{"1299.00", "CNY"}, {"-12.30", "CNY"}, {"0.5", "USD"}, {"1299.5", "JPY"},
		{"999.995", "CNY"}, {"1.0005", "KWD"}, {"abc", "CNY"}, {"1e5", "XXX"},
		{"-0.005", "EUR"}, {"000", "cny"},
	} {
		for i := range len(defs) {
			f.Add(s.amount, s.code, uint8(i))
		}
	}
	f.Fuzz(func(t *testing.T, amount, code string, li uint8) {
		l := Locale{idx: li % uint8(len(defs))}
		got, err := l.FormatMoney(amount, code)
		if err != nil {
			if got != "" {
				t.Fatalf("FormatMoney(%q, %q) = %q alongside error %v", amount, code, got, err)
			}
			return
		}
		neg, intPart, frac, perr := parseAmount(amount)
		if perr != nil {
			t.Fatalf("FormatMoney accepted %q that parseAmount rejects: %v", amount, perr)
		}
		u := currency.MustParseISO(code)
		scale, _ := currency.Standard.Rounding(u)

		// Reduce the output to its sign and digits: drop the symbol and
		// the group separators, keep the decimal point.
		m := l.profile().money
		sym := m.symbol(u)
		body := strings.Replace(got, sym, "", 1)
		outNeg := strings.HasPrefix(body, m.minus)
		body = strings.TrimPrefix(body, m.minus)
		body = strings.ReplaceAll(body, m.group, "")
		outInt, outFrac, _ := strings.Cut(body, m.decimal)
		if !allDigits(outInt) || len(outFrac) != scale || (scale > 0 && !allDigits(outFrac)) {
			t.Fatalf("FormatMoney(%q, %q) in %s = %q: want %d fraction digits", amount, code, l, got, scale)
		}

		// Without rounding, every digit of the integer part must be there,
		// in order, and the fraction must be the input's, zero-padded.
		wantInt := strings.TrimLeft(intPart, "0")
		if wantInt == "" {
			wantInt = "0"
		}
		if len(frac) <= scale {
			if outInt != wantInt || outFrac != frac+strings.Repeat("0", scale-len(frac)) {
				t.Fatalf("FormatMoney(%q, %q) in %s = %q, want integer digits %s", amount, code, l, got, wantInt)
			}
		}

		// Whatever the rounding, the result is within half a unit of the
		// input, and the sign survives unless the result is zero.
		in, _ := new(big.Rat).SetString(amount)
		out, ok := new(big.Rat).SetString(outInt + "." + outFrac + "0")
		if !ok {
			t.Fatalf("cannot read back %q from %q", outInt+"."+outFrac, got)
		}
		if outNeg {
			out.Neg(out)
		}
		half := new(big.Rat).SetFrac(big.NewInt(1), new(big.Int).Mul(big.NewInt(2), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)))
		diff := new(big.Rat).Sub(in, out)
		if diff.Abs(diff).Cmp(half) > 0 {
			t.Fatalf("FormatMoney(%q, %q) in %s = %q, more than half a unit away", amount, code, l, got)
		}
		if outNeg && (!neg || out.Sign() == 0) {
			t.Fatalf("FormatMoney(%q, %q) in %s = %q: unexpected minus sign", amount, code, l, got)
		}
		if neg && !outNeg && out.Sign() != 0 {
			t.Fatalf("FormatMoney(%q, %q) in %s = %q: lost the minus sign", amount, code, l, got)
		}
	})
}

func BenchmarkFormatMoney(b *testing.B) {
	cases := []struct {
		name, locale, amount, currency string
	}{
		{"zh-Hans-CN/CNY", "zh-Hans-CN", "1299.00", "CNY"},
		{"en-US/CNY", "en-US", "1234567.5", "CNY"},
		{"ja-JP/JPY", "ja-JP", "1299", "JPY"},
		{"en-US/CHF-uncached", "en-US", "1299.00", "CHF"},
	}
	for _, c := range cases {
		l := mustParse(b, c.locale)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.FormatMoney(c.amount, c.currency); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
