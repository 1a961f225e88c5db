package profile

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// validationNow is 2025-06-01 00:30 in China Standard Time, still May 31 in
// UTC, so birthday checks show which day "today" is.
var validationNow = time.Date(2025, 5, 31, 16, 30, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func TestNormalizeMobile(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"13812345678":          "13812345678",
		"19912345678":          "19912345678",
		"17000000001":          "17000000001",
		"+8613812345678":       "13812345678",
		"+86 138 1234 5678":    "13812345678",
		"+86-138-1234-5678":    "13812345678",
		"138-1234-5678":        "13812345678",
		"138 1234 5678":        "13812345678",
		"  13812345678  ":      "13812345678",
		"+86  138 - 1234 5678": "13812345678",
	}
	for in, want := range good {
		got, err := NormalizeMobile(in)
		if err != nil || got != want {
			t.Errorf("NormalizeMobile(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"",
		"+86",
		"12812345678",     // second digit 2
		"10012345678",     // second digit 0
		"1381234567",      // 10 digits
		"138123456789",    // 12 digits
		"8613812345678",   // 86 without +
		"008613812345678", // 0086 prefix
		"+85213812345678", // Hong Kong country code
		"+1 138 1234 5678",
		"-13812345678",
		"13812345678-",
		"138.1234.5678",
		"(138)12345678",
		"１３８１２３４５６７８", // full-width digits
		"1381234567a",
		"+86+8613812345678",
		"138\t1234\t5678",
	} {
		got, err := NormalizeMobile(in)
		if err == nil {
			t.Errorf("NormalizeMobile(%q) = %q, want an error", in, got)
			continue
		}
		if len(in) > 5 && strings.Contains(err.Error(), strings.TrimSpace(in)) {
			t.Errorf("NormalizeMobile(%q) error quotes the input: %v", in, err)
		}
	}
}

func TestMasking(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"13812345678":       "138****5678",
		"+86 138-1234-5678": "138****5678",
		"12345":             "***",
		"":                  "***",
	} {
		if got := MaskMobile(in); got != want {
			t.Errorf("MaskMobile(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"wang.fang@example.cn": "w***@example.cn",
		"王@example.cn":         "王***@example.cn",
		"no-at-sign":           "***",
		"@example.cn":          "***",
	} {
		if got := MaskEmail(in); got != want {
			t.Errorf("MaskEmail(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"wang.fang@example.cn":                   "wang.fang@example.cn",
		"Wang.Fang@Example.COM":                  "Wang.Fang@example.com",
		" li+promo@example.com ":                 "li+promo@example.com",
		"a@b.example.cn":                         "a@b.example.cn",
		"王芳@例子.中国":                               "王芳@例子.中国",
		strings.Repeat("a", 64) + "@example.com": strings.Repeat("a", 64) + "@example.com",
	}
	for in, want := range good {
		got, err := normalizeEmail(in)
		if err != nil || got != want {
			t.Errorf("normalizeEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	long := strings.Repeat("a", 60) + "@" + strings.Repeat("b", 190) + ".com" // 255 bytes
	for _, in := range []string{
		"",
		"wang.fang",
		"wang.fang@",
		"@example.cn",
		"wang fang@example.cn",
		"Wang Fang <wang.fang@example.cn>",
		"<wang.fang@example.cn>",
		`"wang fang"@example.cn`,
		"wang..fang@example.cn",
		"wang.fang@localhost",
		"wang.fang@example..cn",
		"wang.fang@[192.0.2.1]",
		"a@b@example.cn",
		"wang.fang@example.cn, li@example.cn",
		strings.Repeat("a", 65) + "@example.com",
		long,
		"wang\nfang@example.cn",
	} {
		if got, err := normalizeEmail(in); err == nil {
			t.Errorf("normalizeEmail(%q) = %q, want an error", in, got)
		}
	}
}

func TestNormalizeText(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"王芳":                    "王芳",
		"  王芳　":                 "王芳", // ASCII and ideographic spaces trimmed
		"Fang Wang":             "Fang Wang",
		"小美🌸":                   "小美🌸",
		"👩\u200d🔬":              "👩\u200d🔬", // emoji ZWJ sequence
		"Zoe\u0301":             "Zoé",      // NFC
		strings.Repeat("芳", 40): strings.Repeat("芳", 40),
		"𠮷野家":                   "𠮷野家", // a supplementary-plane character counts once
	}
	for in, want := range good {
		var p problems
		if got := normalizeText(&p, "displayName", in, 1, MaxNameRunes); got != want || len(p) != 0 {
			t.Errorf("normalizeText(%q) = %q, %v; want %q", in, got, p.err(), want)
		}
	}
	for _, in := range []string{
		"",
		"   ",
		strings.Repeat("芳", 41),
		"王\x00芳",
		"王\x1b[31m芳",
		"王\n芳",
		"\t王芳",
		"王芳\r",
		"王\u202e芳", // right-to-left override
		"王\u200b芳", // zero-width space
		"王\ufeff芳", // byte order mark
		"王\u2028芳", // line separator
		"王\x7f芳",   // DEL
		"王\u0085芳", // next line (C1 control)
		"王\xff芳",   // invalid UTF-8
		"王\ufffd芳", // replacement character: corrupted input
		"王\ufdd0芳", // noncharacter
	} {
		var p problems
		got := normalizeText(&p, "displayName", in, 1, MaxNameRunes)
		fes := FieldErrors(p.err())
		if len(fes) != 1 || fes[0].Field != "displayName" {
			t.Errorf("normalizeText(%q) = %q with errors %v; want one displayName error", in, got, p.err())
		}
	}
}

func TestNormalizeLocale(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"zh-Hans-CN":         "zh-Hans-CN",
		"zh-cn":              "zh-CN",
		"ZH-hant-hk":         "zh-Hant-HK",
		"en-US":              "en-US",
		"ja":                 "ja",
		"en-US-u-ca-gregory": "en-US-u-ca-gregory",
	}
	for in, want := range good {
		got, err := normalizeLocale(in)
		if err != nil || got != want {
			t.Errorf("normalizeLocale(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"", "en_US", "zh-", "-CN", "und", "x-private", "xx", "abcdefghi", "123", "en-US-", "中文",
		"en-" + strings.Repeat("a", 40),
	} {
		if got, err := normalizeLocale(in); err == nil {
			t.Errorf("normalizeLocale(%q) = %q, want an error", in, got)
		}
	}
}

func TestCheckBirthday(t *testing.T) {
	t.Parallel()
	for _, d := range []Date{
		{1900, time.January, 1},
		{1990, time.May, 12},
		{2000, time.February, 29},
		{2025, time.June, 1}, // today in China, tomorrow in UTC
	} {
		if err := checkBirthday(d, validationNow); err != nil {
			t.Errorf("checkBirthday(%v) = %v, want nil", d, err)
		}
	}
	for _, d := range []Date{
		{1899, time.December, 31},
		{1, time.January, 1},
		{2025, time.June, 2},
		{2090, time.January, 1},
		{2023, time.February, 29},
		{1990, time.April, 31},
		{1990, 13, 1},
		{1990, time.January, 0},
	} {
		if err := checkBirthday(d, validationNow); err == nil {
			t.Errorf("checkBirthday(%v) = nil, want an error", d)
		}
	}
}

func TestParseDate(t *testing.T) {
	t.Parallel()
	if d, err := ParseDate("1990-05-12"); err != nil || d != (Date{1990, time.May, 12}) {
		t.Errorf("ParseDate(1990-05-12) = %v, %v", d, err)
	}
	for _, in := range []string{"", "1990-5-12", "1990-05-1", "90-05-12", "1990/05/12", "2023-02-29", "1990-05-12T00:00:00Z", "12.05.1990"} {
		_, err := ParseDate(in)
		if err == nil {
			t.Errorf("ParseDate(%q) succeeded", in)
		} else if in != "" && strings.Contains(err.Error(), in) {
			t.Errorf("ParseDate(%q) error quotes the input: %v", in, err)
		}
	}
	var d Date
	if err := d.UnmarshalText([]byte("2000-02-29")); err != nil || d.String() != "2000-02-29" {
		t.Errorf("UnmarshalText round trip = %v, %v", d, err)
	}
	if text, err := (Date{}).MarshalText(); err != nil || len(text) != 0 {
		t.Errorf("zero Date MarshalText = %q, %v; want empty", text, err)
	}
	if _, err := (Date{2023, time.February, 29}).MarshalText(); err == nil {
		t.Error("MarshalText of an invalid date succeeded")
	}
}

func TestNormalizeSkin(t *testing.T) {
	t.Parallel()
	var p problems
	got := normalizeSkin(&p, SkinProfile{Type: SkinSensitive, Concerns: []SkinConcern{ConcernRedness, ConcernAcne, ConcernRedness}})
	if len(p) != 0 || got.Type != SkinSensitive || !slices.Equal(got.Concerns, []SkinConcern{ConcernAcne, ConcernRedness}) {
		t.Errorf("normalizeSkin = %+v, %v; want sensitive with [acne redness]", got, p.err())
	}
	for _, tc := range []struct {
		in     SkinProfile
		fields []string
	}{
		{SkinProfile{Type: "Oily"}, []string{"skin.type"}},
		{SkinProfile{Type: "very dry"}, []string{"skin.type"}},
		{SkinProfile{Concerns: []SkinConcern{ConcernAcne, "eczema", "Acne"}}, []string{"skin.concerns[1]", "skin.concerns[2]"}},
		{SkinProfile{Type: "x", Concerns: []SkinConcern{""}}, []string{"skin.type", "skin.concerns[0]"}},
	} {
		var p problems
		normalizeSkin(&p, tc.in)
		if got := fieldNames(p.err()); !slices.Equal(got, tc.fields) {
			t.Errorf("normalizeSkin(%+v) fields = %v, want %v", tc.in, got, tc.fields)
		}
	}
}

func fieldNames(err error) []string {
	var names []string
	for _, fe := range FieldErrors(err) {
		names = append(names, fe.Field)
	}
	return names
}

func validAddress() Address {
	return Address{
		RecipientName: "王芳", RecipientMobile: "+86 138 1234 5678", Province: "上海市", City: "上海市",
		District: "静安区", Line1: "南京西路227号", Line2: "3栋1201室", PostalCode: "200040",
	}
}

func TestNormalizeAddresses(t *testing.T) {
	t.Parallel()
	var p problems
	got := normalizeAddresses(&p, []Address{validAddress(), {
		RecipientName: "李静", RecipientMobile: "17000000002", Province: "广东省", City: "东莞市", Line1: "东城大道88号",
	}})
	if len(p) != 0 {
		t.Fatalf("valid addresses rejected: %v", p.err())
	}
	if got[0].RecipientMobile != "13812345678" || !got[0].IsDefault || got[1].IsDefault {
		t.Errorf("normalized = %+v; want the mobile normalized and the first address default", got)
	}

	mutate := func(f func(a *Address)) []Address {
		a := validAddress()
		f(&a)
		return []Address{a}
	}
	for name, tc := range map[string]struct {
		in     []Address
		fields []string
	}{
		"no recipient":      {mutate(func(a *Address) { a.RecipientName = "" }), []string{"addresses[0].recipientName"}},
		"recipient control": {mutate(func(a *Address) { a.RecipientName = "王\x00芳" }), []string{"addresses[0].recipientName"}},
		"bad mobile":        {mutate(func(a *Address) { a.RecipientMobile = "021-12345678" }), []string{"addresses[0].recipientMobile"}},
		"no province":       {mutate(func(a *Address) { a.Province = " " }), []string{"addresses[0].province"}},
		"long city":         {mutate(func(a *Address) { a.City = strings.Repeat("市", 21) }), []string{"addresses[0].city"}},
		"long district":     {mutate(func(a *Address) { a.District = strings.Repeat("区", 21) }), []string{"addresses[0].district"}},
		"no line1":          {mutate(func(a *Address) { a.Line1 = "" }), []string{"addresses[0].line1"}},
		"long line2":        {mutate(func(a *Address) { a.Line2 = strings.Repeat("室", 101) }), []string{"addresses[0].line2"}},
		"postal 5 digits":   {mutate(func(a *Address) { a.PostalCode = "20004" }), []string{"addresses[0].postalCode"}},
		"postal 7 digits":   {mutate(func(a *Address) { a.PostalCode = "2000401" }), []string{"addresses[0].postalCode"}},
		"postal letters":    {mutate(func(a *Address) { a.PostalCode = "SW1A1A" }), []string{"addresses[0].postalCode"}},
		"postal full-width": {mutate(func(a *Address) { a.PostalCode = "２０００４０" }), []string{"addresses[0].postalCode"}},
		"bad id":            {mutate(func(a *Address) { a.ID = "addr 1" }), []string{"addresses[0].id"}},
		"two defaults": {
			[]Address{{IsDefault: true}, {IsDefault: true}},
			nil, // checked below: many fields plus "addresses"
		},
		"eleven": {slices.Repeat([]Address{validAddress()}, MaxAddresses+1), []string{"addresses"}},
	} {
		var p problems
		normalizeAddresses(&p, tc.in)
		got := fieldNames(p.err())
		if tc.fields == nil {
			if !slices.Contains(got, "addresses") {
				t.Errorf("%s: fields %v do not include addresses", name, got)
			}
			continue
		}
		if !slices.Equal(got, tc.fields) {
			t.Errorf("%s: fields = %v, want %v", name, got, tc.fields)
		}
	}
	var ok problems
	normalizeAddresses(&ok, []Address{validAddress(), {ID: "addr-1"}, {ID: "addr-1"}})
	if !slices.Contains(fieldNames(ok.err()), "addresses[2].id") {
		t.Errorf("a repeated address id is not reported: %v", ok.err())
	}
	var noPostal problems
	if got := normalizeAddresses(&noPostal, mutate(func(a *Address) { a.PostalCode = ""; a.District = ""; a.Line2 = "" })); len(noPostal) != 0 || got[0].PostalCode != "" {
		t.Errorf("optional postal code, district and line2 rejected: %v", noPostal.err())
	}
}

// TestNormalizePatch checks that a patch reports every invalid field at
// once, by name, and that no error message contains the rejected value.
func TestNormalizePatch(t *testing.T) {
	t.Parallel()
	secretMobile, secretEmail, secretName := "19999999999x", "leak.me@@example.cn", "泄露\x00名字"
	_, err := normalizePatch(Patch{
		DisplayName:  ptr(secretName),
		Mobile:       ptr(secretMobile),
		Email:        ptr(secretEmail),
		Birthday:     ptr(Date{2030, time.January, 1}),
		Locale:       ptr("en_US"),
		Skin:         ptr(SkinProfile{Type: "scaly"}),
		ConsultantID: ptr("cons 1"),
		Addresses:    ptr([]Address{{}}),
	}, validationNow)
	if !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("normalizePatch = %v, want ErrInvalidInput", err)
	}
	got := fieldNames(err)
	for _, want := range []string{"displayName", "mobile", "email", "birthday", "locale", "skin.type", "consultantId",
		"addresses[0].recipientName", "addresses[0].recipientMobile", "addresses[0].province", "addresses[0].city", "addresses[0].line1"} {
		if !slices.Contains(got, want) {
			t.Errorf("fields %v lack %s", got, want)
		}
	}
	for _, secret := range []string{secretMobile, "19999999999", secretEmail, "leak.me", "泄露", "cons 1", "scaly", "en_US", "2030"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error message contains the value %q: %v", secret, err)
		}
	}

	for name, patch := range map[string]Patch{
		"blank display name": {DisplayName: ptr("")},
		"spaces only":        {DisplayName: ptr("   ")},
	} {
		if _, err := normalizePatch(patch, validationNow); !slices.Equal(fieldNames(err), []string{"displayName"}) {
			t.Errorf("%s: err = %v, want a displayName error", name, err)
		}
	}

	// Empty values remove optional fields.
	out, err := normalizePatch(Patch{Mobile: ptr(" "), Email: ptr(""), Locale: ptr(""), Birthday: ptr(Date{}),
		Skin: ptr(SkinProfile{}), ConsultantID: ptr(""), Addresses: ptr([]Address{})}, validationNow)
	if err != nil {
		t.Fatalf("clearing patch rejected: %v", err)
	}
	if *out.Mobile != "" || *out.Email != "" || *out.Locale != "" || !out.Birthday.IsZero() || !out.Skin.IsZero() || *out.ConsultantID != "" || len(*out.Addresses) != 0 {
		t.Errorf("clearing patch normalized to %+v", out)
	}
}

func TestCheckID(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"cust-0001", "a", "auth0|5f7c8ec7c33c6c004bbafe82", strings.Repeat("x", 255)} {
		if err := checkID("subject", id); err != nil {
			t.Errorf("checkID(%q) = %v", id, err)
		}
	}
	for _, id := range []string{"", "cust 0001", "cust-0001\n", "客户-1", strings.Repeat("x", 256), "\x00"} {
		err := checkID("subject", id)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "subject" || !errors.Is(err, ErrInvalidInput) {
			t.Errorf("checkID(%q) = %v, want a subject FieldError", id, err)
		}
	}
}
