package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// ErrInvalidSeed is returned (wrapped) by LoadSeed for a seed that does not
// parse or does not validate. The message names every offending category
// and product (up to maxSeedProblems of them).
var ErrInvalidSeed = errors.New("catalog: invalid seed")

// seedLocales returns the content locales every seeded category and product
// must be named in.
func seedLocales() []string { return []string{"zh-Hans", "zh-Hant", "en"} }

// maxSeedProblems caps the problems one LoadSeed error lists, so a seed that
// is wrong throughout yields a readable message.
const maxSeedProblems = 20

// currencyFormat is an ISO 4217 alphabetic code.
var currencyFormat = regexp.MustCompile(`^[A-Z]{3}$`)

// seedFile is the seed's JSON layout (see testdata/README.md). Products
// reuse Product's JSON tags; Currency at the top level is the default for
// products that omit theirs.
type seedFile struct {
	Currency   string     `json:"currency"`
	Categories []Category `json:"categories"`
	Products   []Product  `json:"products"`
}

// LoadSeed fills an empty mirror from seedJSON, the catalog seed format of
// testdata/README.md, stamping every product's MirroredAt with now, and
// returns how many products it loaded.
//
// It loads only when store.CountProducts is 0, so that a restart never
// overwrites a mirror that sync jobs have brought up to date; otherwise it
// returns 0 and nil without parsing the seed. Replicas racing to seed the
// same empty mirror are harmless: they write the same rows.
//
// The seed is validated as a whole before anything is written; a seed that
// fails returns 0 and an error wrapping ErrInvalidSeed naming each offending
// category and product. It must have at least one product. Every category
// needs an id (unique) and a name in zh-Hans, zh-Hant and en. Every product
// needs an id and a SKU (each unique), a category listed in the seed, a name
// in zh-Hans, zh-Hant and en, a price written like "1299.00" (digits, a
// point, two digits, no leading zeros), and a currency of three capital
// letters: its own, or else the seed's top-level currency. Unknown JSON
// fields are ignored.
//
// Categories are written before products; if the products then fail, the
// mirror is still empty of products and the next start loads the seed again.
func LoadSeed(ctx context.Context, store Store, seedJSON []byte, now time.Time) (loaded int, err error) {
	n, err := store.CountProducts(ctx)
	if err != nil {
		return 0, fmt.Errorf("catalog: seed: %w", err)
	}
	if n > 0 {
		return 0, nil
	}
	seed, err := parseSeed(seedJSON)
	if err != nil {
		return 0, err
	}
	if err := store.UpsertCategories(ctx, seed.Categories); err != nil {
		return 0, fmt.Errorf("catalog: seed: %w", err)
	}
	if err := store.UpsertProducts(ctx, seed.Products, now); err != nil {
		return 0, fmt.Errorf("catalog: seed: %w", err)
	}
	return len(seed.Products), nil
}

// parseSeed decodes and validates a seed, filling in default currencies.
func parseSeed(seedJSON []byte) (seedFile, error) {
	var seed seedFile
	if err := json.Unmarshal(seedJSON, &seed); err != nil {
		return seedFile{}, fmt.Errorf("%w: %v", ErrInvalidSeed, err)
	}
	var problems []string
	report := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf(format, args...))
	}

	categories := make(map[string]bool, len(seed.Categories))
	for i, c := range seed.Categories {
		who := fmt.Sprintf("category %q", c.ID)
		if c.ID == "" {
			report("category #%d: no id", i)
			continue
		}
		if categories[c.ID] {
			report("%s: id used twice", who)
		}
		categories[c.ID] = true
		if missing := missingLocales(c.Name); len(missing) > 0 {
			report("%s: no name in %s", who, strings.Join(missing, ", "))
		}
	}

	if len(seed.Products) == 0 {
		report("no products")
	}
	ids := make(map[string]bool, len(seed.Products))
	skus := make(map[string]string, len(seed.Products))
	for i := range seed.Products {
		p := &seed.Products[i]
		who := fmt.Sprintf("product %q (#%d)", p.ID, i)
		if p.ID == "" {
			report("product #%d: no id", i)
		} else if ids[p.ID] {
			report("%s: id used twice", who)
		}
		ids[p.ID] = true
		switch other, dup := skus[p.SKU]; {
		case p.SKU == "":
			report("%s: no sku", who)
		case dup:
			report("%s: sku %q already used by product %q", who, p.SKU, other)
		default:
			skus[p.SKU] = p.ID
		}
		switch {
		case p.CategoryID == "":
			report("%s: no category", who)
		case !categories[p.CategoryID]:
			report("%s: category %q is not in the seed", who, p.CategoryID)
		}
		if missing := missingLocales(p.Name); len(missing) > 0 {
			report("%s: no name in %s", who, strings.Join(missing, ", "))
		}
		if !priceFormat.MatchString(p.PriceAmount) {
			report("%s: price %q is not a decimal like 1299.00", who, p.PriceAmount)
		}
		if p.Currency == "" {
			p.Currency = seed.Currency
		}
		if !currencyFormat.MatchString(p.Currency) {
			report("%s: currency %q is not a three-letter code (and the seed has no top-level default)", who, p.Currency)
		}
		if _, ok := p.Name[""]; ok {
			report("%s: name with an empty locale key", who)
		}
		if _, ok := p.Description[""]; ok {
			report("%s: description with an empty locale key", who)
		}
	}

	if len(problems) == 0 {
		return seed, nil
	}
	more := ""
	if len(problems) > maxSeedProblems {
		more = fmt.Sprintf("; and %d more", len(problems)-maxSeedProblems)
		problems = problems[:maxSeedProblems]
	}
	return seedFile{}, fmt.Errorf("%w: %s%s", ErrInvalidSeed, strings.Join(problems, "; "), more)
}

// missingLocales returns the seedLocales that texts has no non-blank entry
// for.
func missingLocales(texts LocalizedText) []string {
	var missing []string
	for _, l := range seedLocales() {
		if strings.TrimSpace(texts[l]) == "" {
			missing = append(missing, l)
		}
	}
	return missing
}
