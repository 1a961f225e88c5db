package locale

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestNegotiate(t *testing.T) {
	tests := []struct {
		name   string
		header string
		want   string
	}{
		{"mainland", "zh-CN", "zh-Hans-CN"},
		{"bare Chinese", "zh", "zh-Hans-CN"},
		{"Singapore", "zh-SG", "zh-Hans-CN"},
		{"Taiwan", "zh-TW", "zh-Hant-TW"},
		{"Hong Kong", "zh-HK", "zh-Hant-HK"},
		{"Macao", "zh-MO", "zh-Hant-HK"},
		{"traditional script", "zh-Hant", "zh-Hant-TW"},
		{"simplified script", "zh-Hans", "zh-Hans-CN"},
		{"US English", "en-US", "en-US"},
		{"British English", "en-GB", "en-US"},
		{"bare English", "en", "en-US"},
		{"Japan", "ja-JP", "ja-JP"},
		{"bare Japanese", "ja", "ja-JP"},
		{"case and underscore", "ZH_tw", "zh-Hant-TW"},
		{"empty", "", "zh-Hans-CN"},
		{"blank", "   ", "zh-Hans-CN"},
		{"garbage", "!!@@##", "zh-Hans-CN"},
		{"only separators", ",,;;,", "zh-Hans-CN"},
		{"wildcard", "*", "zh-Hans-CN"},
		{"unsupported French", "fr-FR", "zh-Hans-CN"},
		{"unsupported Korean", "ko-KR", "zh-Hans-CN"},
		{"unsupported list", "fr-FR, de;q=0.9, pt;q=0.8", "zh-Hans-CN"},
		{"q picks later entry", "fr;q=1, zh-TW;q=0.8", "zh-Hant-TW"},
		{"q reorders", "en;q=0.2, zh-TW;q=0.5", "zh-Hant-TW"},
		{"typical browser", "zh-TW,zh;q=0.9,en-US;q=0.8,en;q=0.7", "zh-Hant-TW"},
		{"unsupported first then English", "fr-FR,fr;q=0.9,en;q=0.5", "en-US"},
		{"low q still beats unsupported", "de, ja;q=0.1", "ja-JP"},
		{"equal q keeps order", "en, zh-TW", "en-US"},
		{"q=0 excluded", "zh-TW;q=0, en;q=0.5", "en-US"},
		{"bad entry skipped", "!!garbage, zh-HK;q=0.9", "zh-Hant-HK"},
		{"bad q skipped", "zh-TW;q=2, ja;q=0.5", "ja-JP"},
		{"q with spaces and caps", "en ; Q = 0.3 , zh-HK ; q=0.4", "zh-Hant-HK"},
		{"other parameters ignored", "ja;level=1;q=0.9, en;q=0.8", "ja-JP"},
		{"wildcard does not match", "*, ja;q=0.1", "ja-JP"},
		{
			"entries past the 16th ignored",
			strings.Repeat("fr, ", 16) + "ja",
			"zh-Hans-CN",
		},
		{
			"16th entry still counts",
			strings.Repeat("fr, ", 15) + "ja",
			"ja-JP",
		},
		{
			"bytes past 1 KiB ignored",
			"fr," + strings.Repeat(" ", 1100) + ",ja",
			"zh-Hans-CN",
		},
		{
			// Cut at 1 KiB, "zh-Hant-HK" would read as "zh-Hant" and give
			// zh-Hant-TW; the partial entry must be dropped instead.
			"entry cut by the 1 KiB limit dropped",
			"ja;q=0.1," + strings.Repeat(" ", 1024-len("ja;q=0.1,")-len("zh-Hant")) + "zh-Hant-HK",
			"ja-JP",
		},
		{
			"single huge entry",
			strings.Repeat("a", 5000),
			"zh-Hans-CN",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Negotiate(tt.header).String(); got != tt.want {
				t.Errorf("Negotiate(%.60q) = %s, want %s", tt.header, got, tt.want)
			}
		})
	}
}

func TestParseQ(t *testing.T) {
	tests := []struct {
		in     string
		want   int
		wantOK bool
	}{
		{"1", 1000, true},
		{"1.000", 1000, true},
		{"1.", 1000, true},
		{"0", 0, true},
		{"0.8", 800, true},
		{"0.001", 1, true},
		{"0.25", 250, true},
		{"1.001", 0, false},
		{"2", 0, false},
		{"0.0001", 0, false},
		{"-0.5", 0, false},
		{"0,5", 0, false},
		{"", 0, false},
		{"NaN", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseQ(tt.in)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("parseQ(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		tag     string
		want    string // "" means an error is expected
		wantMsg string // substring of the error message
	}{
		{tag: "zh-TW", want: "zh-Hant-TW"},
		{tag: "zh-Hant-HK", want: "zh-Hant-HK"},
		{tag: "zh-HK", want: "zh-Hant-HK"},
		{tag: "zh-Hans-CN", want: "zh-Hans-CN"},
		{tag: "zh_CN", want: "zh-Hans-CN"},
		{tag: "zh", want: "zh-Hans-CN"},
		{tag: "en", want: "en-US"},
		{tag: "en-GB", want: "en-US"},
		{tag: "ja", want: "ja-JP"},
		{tag: "JA-jp", want: "ja-JP"},
		{tag: "xx-!!", wantMsg: "not a well-formed BCP 47 tag"},
		{tag: "", wantMsg: "empty tag"},
		{tag: " en", wantMsg: "not a well-formed"},
		{tag: strings.Repeat("en-", 50) + "US", wantMsg: "longer than 128 bytes"},
		{tag: "de-DE", wantMsg: `"de-DE" is not served`},
		{tag: "fr", wantMsg: "not served"},
		{tag: "und", wantMsg: "not served"},
		{tag: "yue-HK", wantMsg: "not served"},
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			got, err := Parse(tt.tag)
			if tt.want != "" {
				if err != nil {
					t.Fatalf("Parse(%q): got error %v, want %s", tt.tag, err, tt.want)
				}
				if got.String() != tt.want {
					t.Errorf("Parse(%q) = %s, want %s", tt.tag, got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse(%q) = %s, want an error", tt.tag, got)
			}
			if !errors.Is(err, ErrUnsupported) {
				t.Errorf("Parse(%q) error %v does not wrap ErrUnsupported", tt.tag, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("Parse(%q) error %q, want it to contain %q", tt.tag, msg, tt.wantMsg)
			}
			for _, l := range Supported() {
				if !strings.Contains(msg, l.String()) {
					t.Errorf("Parse(%q) error %q does not list supported locale %s", tt.tag, msg, l)
				}
			}
			if got != Default() {
				t.Errorf("Parse(%q) returned %s alongside an error, want the zero Locale", tt.tag, got)
			}
		})
	}
}

func TestPick(t *testing.T) {
	all := map[string]string{"zh-Hans": "护肤", "zh-Hant": "護膚", "en": "Skin Care"}
	hansEn := map[string]string{"zh-Hans": "护肤", "en": "Skin Care"}
	enOnly := map[string]string{"en": "Skin Care"}
	hansOnly := map[string]string{"zh-Hans": "护肤"}
	others := map[string]string{"ko": "스킨케어", "fr": "Soins", "de": ""}
	tests := []struct {
		name   string
		locale string
		texts  map[string]string
		want   string
	}{
		{"mainland reader", "zh-CN", all, "护肤"},
		{"Hong Kong reader sees zh-Hant", "zh-HK", all, "護膚"},
		{"Taiwan reader sees zh-Hant", "zh-TW", all, "護膚"},
		{"zh-Hant reader falls back to zh-Hans", "zh-HK", hansEn, "护肤"},
		{"zh-Hant reader falls back to en", "zh-TW", enOnly, "Skin Care"},
		{"English reader", "en", all, "Skin Care"},
		{"English reader falls back to zh-Hans", "en", hansOnly, "护肤"},
		{"mainland reader falls back to en", "zh-CN", enOnly, "Skin Care"},
		{"Japanese reader sees ja", "ja", map[string]string{"ja": "スキンケア", "en": "Skin Care"}, "スキンケア"},
		{"Japanese reader falls back to en", "ja", all, "Skin Care"},
		{"Japanese reader falls back to zh-Hans", "ja", hansOnly, "护肤"},
		{"empty text is missing", "zh-HK", map[string]string{"zh-Hant": "", "zh-Hans": "护肤"}, "护肤"},
		{"off-chain text, smallest key", "en", others, "Soins"},
		{"nothing", "en", map[string]string{"en": "", "zh-Hans": ""}, ""},
		{"nil map", "zh-CN", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Parse(tt.locale)
			if err != nil {
				t.Fatal(err)
			}
			if got := l.Pick(tt.texts); got != tt.want {
				t.Errorf("%s.Pick(%v) = %q, want %q", l, tt.texts, got, tt.want)
			}
		})
	}
}

func TestFallbackChains(t *testing.T) {
	want := map[string][]string{
		"zh-Hans-CN": {"zh-Hans", "en"},
		"zh-Hant-TW": {"zh-Hant", "zh-Hans", "en"},
		"zh-Hant-HK": {"zh-Hant", "zh-Hans", "en"},
		"en-US":      {"en", "zh-Hans"},
		"ja-JP":      {"ja", "en", "zh-Hans"},
	}
	for _, l := range Supported() {
		t.Run(l.String(), func(t *testing.T) {
			got := l.Fallback()
			if !slices.Equal(got, want[l.String()]) {
				t.Errorf("Fallback() = %v, want %v", got, want[l.String()])
			}
			got[0] = "mutated"
			if l.Fallback()[0] == "mutated" {
				t.Error("Fallback() returned the shared table, want a copy")
			}
		})
	}
}

func TestSupportedAndDefault(t *testing.T) {
	var names []string
	for _, l := range Supported() {
		names = append(names, l.String())
		if l.Key() != l.String() {
			t.Errorf("%s: Key() = %q, want %q", l, l.Key(), l.String())
		}
		if l.Tag().String() != l.String() {
			t.Errorf("%s: Tag() = %v, want %s", l, l.Tag(), l)
		}
		// Every supported locale must negotiate and parse to itself.
		if got := Negotiate(l.String()); got != l {
			t.Errorf("Negotiate(%q) = %s, want %s", l, got, l)
		}
		if got, err := Parse(l.String()); err != nil || got != l {
			t.Errorf("Parse(%q) = %s, %v; want %s, nil", l, got, err, l)
		}
	}
	wantNames := []string{"zh-Hans-CN", "zh-Hant-TW", "zh-Hant-HK", "en-US", "ja-JP"}
	if !slices.Equal(names, wantNames) {
		t.Errorf("Supported() = %v, want %v", names, wantNames)
	}
	if got := Default().String(); got != "zh-Hans-CN" {
		t.Errorf("Default() = %s, want zh-Hans-CN", got)
	}
	var zero Locale
	if zero != Default() {
		t.Errorf("zero Locale = %s, want Default() %s", zero, Default())
	}
	s := Supported()
	s[0] = s[1]
	if Supported()[0] != Default() {
		t.Error("Supported() returned a shared slice, want a fresh one")
	}
}

func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{
		"", "zh-CN", "zh-TW,zh;q=0.9,en-US;q=0.8", "fr;q=1, zh-TW;q=0.8",
		"*;q=0.5", "en;q=0.", "x-foo, i-default", ";;,,", "zh-Hant-HK-u-nu-hanidec",
		"en-US-u-rg-gbzzzz;q=0.1", "\xff\xfe", strings.Repeat("zh-", 400),
	} {
		f.Add(s)
	}
	supported := Supported()
	f.Fuzz(func(t *testing.T, header string) {
		got := Negotiate(header)
		if !slices.Contains(supported, got) {
			t.Fatalf("Negotiate(%q) = %#v, not a supported locale", header, got)
		}
		if again := Negotiate(header); again != got {
			t.Fatalf("Negotiate(%q) = %s then %s, want a stable answer", header, got, again)
		}
		// Parse must not panic on the same bytes either, and must agree
		// with the supported set when it succeeds.
		if l, err := Parse(header); err == nil && !slices.Contains(supported, l) {
			t.Fatalf("Parse(%q) = %#v, not a supported locale", header, l)
		}
	})
}

func BenchmarkNegotiate(b *testing.B) {
	for b.Loop() {
		_ = Negotiate("zh-TW,zh;q=0.9,en-US;q=0.8,en;q=0.7")
	}
}
