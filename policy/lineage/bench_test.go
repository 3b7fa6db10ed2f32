package lineage

import (
	"context"
	"testing"
)

// BenchmarkAnalyze measures tracing a join with a view, a CTE and
// expressions, as the proxy would for each new statement.
func BenchmarkAnalyze(b *testing.B) {
	sql := `WITH recent AS (SELECT customer_id, sum(total) AS t FROM orders GROUP BY customer_id)
		SELECT c.id, upper(c.email), v.mail, r.t, row_to_json(c)
		FROM customers c JOIN recent r ON r.customer_id = c.id JOIN customer_emails v USING (id)
		WHERE c.name LIKE 'a%' ORDER BY c.id LIMIT 10`
	opts := Options{Catalog: newFakeCatalog(), SearchPath: []string{"public"}, Masked: testMasked}
	for b.Loop() {
		if _, err := Analyze(context.Background(), sql, opts); err != nil {
			b.Fatal(err)
		}
	}
}
