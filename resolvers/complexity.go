package resolvers

import "meridian/graph"

// SetComplexity installs cost functions for the fields whose cost grows with
// their arguments, so the complexity limit sees a 100-product page as 100
// products rather than one field. Unknown page sizes count as the default.
func SetComplexity(c *graph.ComplexityRoot) {
	c.Query.Search = func(child int, _ *string, _ *string, first *int, _ *string, _ *string) int {
		n := 20
		if first != nil && *first > 0 {
			n = *first
		}
		return 1 + n*child
	}
	c.Query.Products = func(child int, ids []string, _ *string) int {
		return 1 + len(ids)*child
	}
}
