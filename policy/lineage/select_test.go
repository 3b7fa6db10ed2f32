package lineage

import "testing"

func TestSelectColumns(t *testing.T) {
	runCases(t, []lineageCase{
		// a masked column selected by name is Direct
		{name: "plain", sql: "SELECT id, ssn FROM customers", outs: "id=customers.id ssn=customers.ssn"},
		// a column alias does not change what the column is
		{name: "column alias", sql: "SELECT ssn AS x FROM customers", outs: "x=customers.ssn"},
		// a table alias and qualified reference
		{name: "table alias", sql: "SELECT c.email FROM customers AS c", outs: "email=customers.email"},
		// schema-qualified table and column reference
		{name: "schema qualified", sql: "SELECT public.customers.phone FROM public.customers", outs: "phone=customers.phone"},
		// unqualified table still answers to schema.table.column
		{name: "schema qualified column, bare table", sql: "SELECT public.customers.ssn FROM customers", outs: "ssn=customers.ssn"},
		// quoted identifiers keep their case and reach the masked column
		{name: "quoted identifiers", sql: `SELECT p."SSN", p.nick FROM crm."People" p`, outs: "SSN=crm.People.SSN nick=crm.People.nick"},
		// quoted lower-case names are the same names as unquoted ones
		{name: "quoted lower case", sql: `SELECT "ssn" FROM "public"."customers"`, outs: "ssn=customers.ssn"},
		// search_path decides which contacts is meant
		{name: "search_path", sql: "SELECT email FROM contacts", outs: "email=crm.contacts.email",
			opts: func(o *Options) { o.SearchPath = []string{"crm", "public"} }},
		// SELECT * expands in catalog order
		{name: "star", sql: "SELECT * FROM customers",
			outs: "id=customers.id name=customers.name email=customers.email ssn=customers.ssn card_number=customers.card_number phone=customers.phone"},
		// t.* expands one table of a join
		{name: "t.star", sql: "SELECT o.*, c.ssn FROM orders o JOIN customers c ON c.id = o.customer_id",
			outs: "id=orders.id customer_id=orders.customer_id total=orders.total note=orders.note ssn=customers.ssn"},
		// TABLE is SELECT * FROM
		{name: "TABLE", sql: "TABLE customers",
			outs: "id=customers.id name=customers.name email=customers.email ssn=customers.ssn card_number=customers.card_number phone=customers.phone"},
		// an alias column list renames without changing the origin
		{name: "alias column list", sql: "SELECT b FROM customers AS c(a, b)", outs: "b=customers.name"},
		// a subquery in FROM passes its columns through
		{name: "subquery in FROM", sql: "SELECT s.x FROM (SELECT ssn AS x FROM customers) s", outs: "x=customers.ssn"},
		// a scalar subquery in the select list is its column
		{name: "scalar subquery", sql: "SELECT (SELECT email FROM customers LIMIT 1) AS e", outs: "e=customers.email"},
		// a correlated subquery reaches the outer query's columns
		{name: "correlated subquery", sql: "SELECT o.id, (SELECT max(c.ssn) FROM customers c WHERE c.id = o.customer_id) FROM orders o",
			outs: "id=orders.id max=~customers.ssn"},
		// a join USING merges the column and puts it first in *
		{name: "join using star", sql: "SELECT * FROM orders JOIN customers USING (id)",
			outs: "id=orders.id customer_id=orders.customer_id total=orders.total note=orders.note name=customers.name email=customers.email ssn=customers.ssn card_number=customers.card_number phone=customers.phone"},
		// NATURAL JOIN merges the columns the two sides share
		{name: "natural join", sql: "SELECT * FROM notes NATURAL JOIN orders",
			outs: "id=notes.id body=notes.body customer_id=orders.customer_id total=orders.total note=orders.note"},
		// a join alias hides the joined tables but keeps the columns
		{name: "join alias", sql: "SELECT j.ssn FROM (customers JOIN orders USING (id)) AS j", outs: "ssn=customers.ssn"},
		// ON of an aliased join still sees the joined tables
		{name: "join alias on", sql: "SELECT t.total FROM (customers c JOIN orders o ON o.customer_id = c.id) t", outs: "total=orders.total",
			opts: denyProbing},
		// a CTE passes its columns through
		{name: "CTE", sql: "WITH x AS (SELECT email FROM customers) SELECT email FROM x", outs: "email=customers.email"},
		// a CTE's column list renames
		{name: "CTE column list", sql: "WITH x(a) AS (SELECT card_number FROM customers) SELECT a FROM x", outs: "a=customers.card_number"},
		// a recursive CTE carries the recursive arm's sources too
		{name: "recursive CTE", sql: "WITH RECURSIVE r(n, v) AS (SELECT 1, name FROM customers UNION ALL SELECT n + 1, r.v || c.ssn FROM r JOIN customers c ON c.id = r.n) SELECT n, v FROM r",
			outs: "n=clean v=~customers.ssn"},
		// SEARCH and CYCLE add columns built from the listed ones
		{name: "search cycle", sql: "WITH RECURSIVE r(id, s) AS (SELECT id, ssn FROM customers UNION ALL SELECT id + 1, s FROM r) SEARCH DEPTH FIRST BY id SET seq CYCLE s SET loop USING path SELECT * FROM r",
			outs: "id=clean s=customers.ssn seq=clean loop=~customers.ssn path=~customers.ssn"},
		// UNION: column i is either arm's column i
		{name: "union", sql: "SELECT name FROM customers UNION SELECT email FROM customers", outs: "name=~customers.email"},
		// UNION of the same column stays Direct
		{name: "union same column", sql: "SELECT ssn FROM customers UNION ALL SELECT ssn FROM customers", outs: "ssn=customers.ssn"},
		// INTERSECT and EXCEPT combine like UNION
		{name: "intersect except", sql: "SELECT id, note FROM orders INTERSECT SELECT id, phone FROM customers EXCEPT SELECT 1, 'x'",
			outs: "id=clean note=~customers.phone"},
		// VALUES computed from nothing is clean
		{name: "values", sql: "VALUES (1, 'a'), (2, 'b')", outs: "column1=clean column2=clean"},
		// a view resolves to its base column
		{name: "view", sql: "SELECT mail FROM customer_emails", outs: "mail=customers.email"},
		// a view computing from a masked column is Derived
		{name: "view derived", sql: "SELECT * FROM upper_ssn", outs: "id=customers.id s=~customers.ssn"},
		// a view over a view resolves recursively
		{name: "nested view", sql: "SELECT * FROM nested", outs: "id=customers.id mail=customers.email"},
		// a materialized view carries its definition's sources
		{name: "materialized view", sql: "SELECT ssn FROM ssn_mv", outs: "ssn=customers.ssn"},
		// a foreign table's columns are its own
		{name: "foreign table", sql: "SELECT * FROM ext_people", outs: "id=ext_people.id ssn=ext_people.ssn"},
		// a partition is masked like its parent
		{name: "partition", sql: "SELECT ssn, name FROM customers_2024", outs: "ssn=customers_2024.ssn name=customers_2024.name"},
		// LATERAL subquery sees the earlier FROM item
		{name: "lateral", sql: "SELECT l.x FROM customers c, LATERAL (SELECT c.email AS x) l", outs: "x=customers.email"},
		// an output alias in ORDER BY of an unmasked column is no probe
		{name: "order by unmasked alias", sql: "SELECT name AS n FROM customers ORDER BY n", outs: "n=customers.name", opts: denyProbing},
		// an output alias in GROUP BY
		{name: "group by alias", sql: "SELECT upper(ssn) AS u FROM customers GROUP BY u", outs: "u=~customers.ssn", probes: "GROUP BY:customers.ssn"},
		// GROUP BY prefers the input column over an output alias
		{name: "group by input first", sql: "SELECT max(ssn) AS name FROM customers GROUP BY name", outs: "name=~customers.ssn",
			opts: denyProbing},
		// an output name in ORDER BY is the output column
		{name: "order by output alias", sql: "SELECT ssn AS s FROM customers ORDER BY s", outs: "s=customers.ssn", probes: "ORDER BY:customers.ssn"},
	})
}

func TestPartitionMaskedByParentColumn(t *testing.T) {
	r := analyzeCase(t, lineageCase{sql: "SELECT ssn FROM customers_2024"})
	if got := r.Outputs[0].Sources; len(got) != 1 || got[0].String() != "public.customers.ssn" {
		t.Fatalf("partition column sources = %v, want the parent's masked column", got)
	}
}
