package lineage

import (
	"context"
	"fmt"
)

func ExampleAnalyze() {
	r, err := Analyze(context.Background(), `SELECT c.id AS customer, lower(c.email) AS contact FROM customers c WHERE c.ssn LIKE '1%'`, Options{
		Catalog:     newFakeCatalog(),
		SearchPath:  []string{"public"},
		Masked:      map[string]string{"public.customers.email": "email", "public.customers.ssn": "redact"},
		DenyProbing: true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, out := range r.Outputs {
		fmt.Println(out.Name, out.Kind, out.Column, out.Sources)
	}
	fmt.Println(r.Refuse)
	// Output:
	// customer direct public.customers.id []
	// contact derived .. [public.customers.email]
	// WHERE uses masked column public.customers.ssn, which would let repeated queries guess its values (deny_probing); filter, join and sort on unmasked columns instead
}
