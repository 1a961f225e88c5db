package globalsim

import (
	"fmt"
	"strconv"
	"strings"
)

// parseMoney reads a non-negative decimal string with exactly two fraction
// digits ("1299.00") into cents. Money crosses every boundary as such a
// string; floats would round. At most ten integer digits are accepted, which
// keeps any order total (quantity × unit price × lines) far inside int64.
func parseMoney(s string) (int64, error) {
	whole, frac, ok := strings.Cut(s, ".")
	if !ok || len(frac) != 2 || whole == "" || len(whole) > 10 {
		return 0, fmt.Errorf("amount %q: want digits, a dot and two fraction digits, such as \"1299.00\"", s)
	}
	if len(whole) > 1 && whole[0] == '0' {
		return 0, fmt.Errorf("amount %q: leading zero", s)
	}
	for _, c := range whole + frac {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("amount %q: not a decimal number", s)
		}
	}
	w, _ := strconv.ParseInt(whole, 10, 64) // digits only, at most 10 of them
	f, _ := strconv.ParseInt(frac, 10, 64)
	return w*100 + f, nil
}

// formatMoney writes cents as a decimal string with two fraction digits.
func formatMoney(cents int64) string {
	return fmt.Sprintf("%d.%02d", cents/100, cents%100)
}
