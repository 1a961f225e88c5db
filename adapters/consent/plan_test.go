package consent

import (
	"context"
	"strings"
	"testing"
	"time"

	"meridian/internal/db"
)

// TestGrantedUsesIndex checks that Granted, which runs on hot paths, is an
// index search and never a scan of the history, and that GrantedFor's
// latest-version lookup is too.
func TestGrantedUsesIndex(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := db.Open(ctx, "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := NewSQLStore(ctx, d); err != nil {
		t.Fatal(err)
	}
	for name, query := range map[string]string{
		"Granted":    grantedQuery,
		"GrantedFor": "SELECT c.subject, c.granted FROM consent_changes c WHERE c.purpose = ? AND c.subject IN (?, ?) AND " + latestVersion,
	} {
		rows, err := d.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, "a", "b", "c")
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		joined := strings.Join(plan, "; ")
		if strings.Contains(joined, "SCAN") || !strings.Contains(joined, "SEARCH") {
			t.Errorf("%s plan = %q; want index searches only", name, joined)
		}
	}
}
