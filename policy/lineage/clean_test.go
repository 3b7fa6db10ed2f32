package lineage

import "testing"

// TestStaysClean holds the things masking must not flag: outputs with no
// masked column behind them, and statements it must not refuse.
func TestStaysClean(t *testing.T) {
	runCases(t, []lineageCase{
		// unmasked columns of a table with masked ones
		{name: "unmasked columns", sql: "SELECT id, name FROM customers", outs: "id=customers.id name=customers.name", opts: denyProbing},
		// count(*) reads no column
		{name: "count star", sql: "SELECT count(*) FROM customers", outs: "count=clean", opts: denyProbing},
		// a filter on an unmasked column is not a probe
		{name: "filter unmasked", sql: "SELECT email FROM customers WHERE id = 3 ORDER BY name", outs: "email=customers.email", probes: "", opts: denyProbing},
		// a column named like a masked one in another table
		{name: "same name other table", sql: "SELECT note AS ssn FROM orders", outs: "ssn=orders.note"},
		// a masked-looking alias on a constant
		{name: "alias of constant", sql: "SELECT 'x' AS email FROM customers", outs: "email=clean", opts: denyProbing},
		// EXISTS returns whether rows exist, not their values
		{name: "exists", sql: "SELECT EXISTS (SELECT 1 FROM customers WHERE id = 1)", outs: "exists=clean", opts: denyProbing},
		// a view of an unmasked table
		{name: "view unmasked", sql: "SELECT * FROM order_totals", outs: "customer_id=orders.customer_id sum=clean"},
		// parameters and constants
		{name: "params", sql: "SELECT $1::int + 1 AS n", outs: "n=clean"},
		// generate_series
		{name: "generate_series", sql: "SELECT g FROM generate_series(1, 3) g", outs: "g=clean"},
		// now() is a built-in
		{name: "builtin function", sql: "SELECT now(), version()", outs: "now=clean version=clean"},
		// pg_class is catalog metadata
		{name: "pg_class", sql: "SELECT relname FROM pg_class", outs: "relname=pg_catalog.pg_class.relname"},
		// a quoted unmasked column of the quoted table
		{name: "quoted unmasked", sql: `SELECT nick FROM crm."People"`, outs: "nick=crm.People.nick"},
		// a CTE named like a masked table shadows it
		{name: "cte shadows table", sql: "WITH customers AS (SELECT 1 AS ssn) SELECT ssn FROM customers", outs: "ssn=clean", opts: denyProbing},
		// the join key of a masked table that is not itself masked
		{name: "join on id", sql: "SELECT c.name, o.total FROM customers c JOIN orders o ON o.customer_id = c.id", outs: "name=customers.name total=orders.total",
			opts: denyProbing},
		// LIMIT with a constant is no probe
		{name: "limit", sql: "SELECT id FROM customers LIMIT 5 OFFSET 2", outs: "id=customers.id", opts: denyProbing},
		// nothing is refused when no masking applies
		{name: "no masking", sql: "SELECT leak(ssn) FROM ghost WHERE ssn = '1'", outs: "leak=?",
			opts: func(o *Options) { o.Masked = nil; o.DenyProbing = true }},
		// an outer query's column of the same name wins over nothing
		{name: "correlated clean", sql: "SELECT (SELECT o.total FROM orders o WHERE o.id = c.id) FROM customers c", outs: "total=orders.total", opts: denyProbing},
		// system columns carry no column's data
		{name: "system columns", sql: "SELECT ctid, c.tableoid, ssn FROM customers c", outs: "ctid=clean tableoid=clean ssn=customers.ssn", opts: denyProbing},
		// information_schema views call information_schema functions
		{name: "information_schema", sql: "SELECT column_name, max_length FROM information_schema.columns WHERE table_name = 'customers'",
			outs: "column_name=pg_catalog.pg_class.relname max_length=clean"},
		// a view's functions resolve as when it was made
		{name: "view under search_path", sql: "SELECT n FROM lower_names", outs: "n=clean",
			opts: func(o *Options) { o.SearchPath = []string{"crm", "public"} }},
		// SHOW and transaction control
		{name: "begin", sql: "BEGIN", outs: ""},
	})
}
