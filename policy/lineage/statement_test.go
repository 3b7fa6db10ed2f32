package lineage

import "testing"

func TestStatements(t *testing.T) {
	runCases(t, []lineageCase{
		// INSERT ... RETURNING returns stored columns
		{name: "insert returning", sql: "INSERT INTO customers (name, ssn) VALUES ('a', '1') RETURNING id, ssn",
			outs: "id=customers.id ssn=customers.ssn"},
		// UPDATE ... RETURNING *
		{name: "update returning star", sql: "UPDATE orders SET note = 'x' WHERE id = 1 RETURNING *",
			outs: "id=orders.id customer_id=orders.customer_id total=orders.total note=orders.note"},
		// UPDATE ... FROM ... RETURNING an expression over the joined table
		{name: "update from returning", sql: "UPDATE orders o SET total = 0 FROM customers c WHERE c.id = o.customer_id RETURNING upper(c.email)",
			outs: "upper=~customers.email"},
		// DELETE ... RETURNING a masked column
		{name: "delete returning", sql: "DELETE FROM customers WHERE id = 7 RETURNING phone", outs: "phone=customers.phone"},
		// a data-modifying CTE's RETURNING feeds the outer SELECT
		{name: "DML in CTE", sql: "WITH d AS (DELETE FROM customers WHERE id = 1 RETURNING *) SELECT ssn FROM d", outs: "ssn=customers.ssn"},
		// DECLARE CURSOR reports what FETCH will return
		{name: "declare cursor", sql: "DECLARE cur CURSOR FOR SELECT email AS e, id FROM customers", outs: "e=customers.email id=customers.id"},
		// PREPARE reports what EXECUTE will return
		{name: "prepare", sql: "PREPARE p (int) AS SELECT card_number FROM customers WHERE id = $1", outs: "card_number=customers.card_number"},
		// COPY (query) TO
		{name: "copy query", sql: "COPY (SELECT name, ssn FROM customers) TO STDOUT", outs: "name=customers.name ssn=customers.ssn"},
		// COPY table (columns) TO
		{name: "copy columns", sql: "COPY customers (id, email) TO STDOUT WITH (FORMAT csv)", outs: "id=customers.id email=customers.email"},
		// COPY table TO copies every column
		{name: "copy table", sql: "COPY customers TO STDOUT",
			outs: "id=customers.id name=customers.name email=customers.email ssn=customers.ssn card_number=customers.card_number phone=customers.phone"},
		// COPY FROM returns no data
		{name: "copy from", sql: "COPY customers FROM STDIN", outs: ""},
		// EXPLAIN returns a plan, not data
		{name: "explain", sql: "EXPLAIN SELECT ssn FROM customers", outs: "QUERY PLAN=clean"},
		// statements without relations are not refused
		{name: "set", sql: "SET search_path = crm, public", outs: ""},
		// FETCH returns what DECLARE said; on its own there is nothing to trace
		{name: "fetch", sql: "FETCH 10 FROM cur", outs: ""},
		// an INSERT of client values into a masked table is fine
		{name: "insert values", sql: "INSERT INTO customers (ssn) VALUES ('123')", outs: ""},
		// copying a masked column into another masked column is fine
		{name: "update masked into masked", sql: "UPDATE customers SET ssn = upper(ssn)", outs: ""},
		// CREATE TABLE of unknown names is not refused
		{name: "create table", sql: "CREATE TABLE fresh (a int)", outs: ""},
		// CREATE MATERIALIZED VIEW: later reads resolve through its definition
		{name: "create matview", sql: "CREATE MATERIALIZED VIEW m AS SELECT ssn FROM customers", outs: ""},
	})
}

func TestRefusals(t *testing.T) {
	runCases(t, []lineageCase{
		// a probing predicate with deny_probing
		{name: "where", sql: "SELECT id FROM customers WHERE ssn LIKE '1%'", outs: "id=customers.id",
			probes: "WHERE:customers.ssn", refuse: "WHERE uses masked column public.customers.ssn", opts: denyProbing},
		// the same predicate is only reported without deny_probing
		{name: "where allowed", sql: "SELECT id FROM customers WHERE ssn LIKE '1%'", outs: "id=customers.id", probes: "WHERE:customers.ssn"},
		// JOIN ON a masked column
		{name: "join on", sql: "SELECT o.id FROM orders o JOIN customers c ON c.email = o.note", outs: "id=orders.id",
			probes: "JOIN:customers.email", refuse: "JOIN", opts: denyProbing},
		// JOIN USING a masked column
		{name: "join using", sql: "SELECT 1 FROM customers a JOIN customers b USING (phone)", outs: "?column?=clean",
			probes: "JOIN:customers.phone", refuse: "JOIN", opts: denyProbing},
		// ORDER BY position of a masked output
		{name: "order by position", sql: "SELECT id, ssn FROM customers ORDER BY 2", outs: "id=customers.id ssn=customers.ssn",
			probes: "ORDER BY:customers.ssn", refuse: "ORDER BY", opts: denyProbing},
		// GROUP BY a masked column
		{name: "group by", sql: "SELECT count(*) FROM customers GROUP BY email", outs: "count=clean",
			probes: "GROUP BY:customers.email", refuse: "GROUP BY", opts: denyProbing},
		// HAVING on a masked aggregate
		{name: "having", sql: "SELECT name FROM customers GROUP BY name HAVING max(ssn) > '5'", outs: "name=customers.name",
			probes: "HAVING:customers.ssn", refuse: "HAVING", opts: denyProbing},
		// DISTINCT ON a masked column
		{name: "distinct on", sql: "SELECT DISTINCT ON (card_number) id FROM customers", outs: "id=customers.id",
			probes: "DISTINCT ON:customers.card_number", refuse: "DISTINCT ON", opts: denyProbing},
		// a probe inside EXISTS
		{name: "exists probe", sql: "SELECT EXISTS (SELECT 1 FROM customers WHERE ssn = '123')", outs: "exists=clean",
			refuse: "WHERE", opts: denyProbing},
		// IN (subquery of a masked column) compares against masked values
		{name: "in subquery", sql: "SELECT id FROM orders WHERE note IN (SELECT email FROM customers)", outs: "id=orders.id",
			probes: "WHERE:customers.email", refuse: "WHERE", opts: denyProbing},
		// probing through a view
		{name: "probe view", sql: "SELECT id FROM customer_emails WHERE mail = 'a@b.c'", outs: "id=customers.id",
			refuse: "customers.email", opts: denyProbing},
		// UPDATE ... WHERE on a masked column counts rows by value
		{name: "update where", sql: "UPDATE customers SET name = 'x' WHERE ssn = '1'", outs: "", refuse: "WHERE", opts: denyProbing},
		// EXPLAIN ANALYZE runs the probe
		{name: "explain probe", sql: "EXPLAIN ANALYZE SELECT 1 FROM customers WHERE ssn < '5'", outs: "QUERY PLAN=clean",
			refuse: "WHERE", opts: denyProbing},
		// a user-defined function is refused while masking applies
		{name: "user function", sql: "SELECT leak(id) FROM customers", outs: "leak=clean", refuse: "function public.leak is outside pg_catalog"},
		// even without masked relations in the statement
		{name: "user function alone", sql: "SELECT public.leak(1)", outs: "leak=clean", refuse: "public.leak"},
		// allow_functions lets a function through
		{name: "allowed function", sql: "SELECT safe_fn(email) FROM customers", outs: "safe_fn=~customers.email"},
		// allow_functions by qualified name
		{name: "allowed qualified", sql: "SELECT public.leak(1)", outs: "leak=clean",
			opts: func(o *Options) { o.AllowFunctions = []string{"public.leak"} }},
		// a function shadowing a built-in on the search_path is not trusted
		{name: "shadowed builtin", sql: "SELECT lower(name) FROM customers", outs: "lower=clean", refuse: "crm.lower",
			opts: func(o *Options) { o.SearchPath = []string{"crm", "public"} }},
		// a function created in pg_catalog after initdb is not built in
		// (issue 12, item 5), qualified or not
		{name: "user function in pg_catalog", sql: "SELECT sneak(ssn) FROM customers", outs: "sneak=~customers.ssn",
			refuse: "function pg_catalog.sneak is outside pg_catalog (or was created there after initdb)"},
		{name: "user function in pg_catalog qualified", sql: "SELECT pg_catalog.sneak(ssn) FROM customers",
			outs: "sneak=~customers.ssn", refuse: "pg_catalog.sneak"},
		{name: "user function in pg_catalog in WHERE", sql: "SELECT id FROM customers WHERE pg_catalog.sneak(ssn) IS NULL",
			outs: "id=customers.id", refuse: "pg_catalog.sneak"},
		// an overload added in pg_catalog to a built-in's name
		{name: "user overload of a built-in", sql: "SELECT initcap(name) FROM customers", outs: "initcap=clean",
			refuse: "pg_catalog.initcap"},
		// an operator is its function in disguise: one created after
		// initdb over a function that is not built in is refused, in any
		// position, and in a view
		{name: "user operator", sql: "SELECT id === 1 FROM customers", outs: "?column?=clean", refuse: "function public.leak is outside"},
		{name: "user operator qualified", sql: "SELECT OPERATOR(public.===) 1", outs: "?column?=clean", refuse: "public.leak"},
		{name: "user operator in WHERE", sql: "SELECT name FROM customers WHERE id === 1", outs: "name=customers.name", refuse: "public.leak"},
		{name: "user operator in ANY", sql: "SELECT 1 WHERE 1 === ANY (SELECT id FROM orders)", outs: "?column?=clean", refuse: "public.leak"},
		{name: "user operator in ORDER BY USING", sql: "SELECT id FROM orders ORDER BY id USING ===", outs: "id=orders.id", refuse: "public.leak"},
		{name: "user operator allowed by its function", sql: "SELECT id === 1 FROM orders", outs: "?column?=clean",
			opts: func(o *Options) { o.AllowFunctions = []string{"public.leak"} }},
		{name: "user operator in a view", sql: "SELECT * FROM op_view", outs: "x=clean", refuse: "public.leak"},
		// a function in FROM returns as many rows as its arguments say
		{name: "FROM function probe", sql: "SELECT count(*) FROM customers c, generate_series(1, ascii(c.ssn))", outs: "count=clean",
			probes: "a set-returning function:customers.ssn FROM function:customers.ssn", refuse: "uses masked column public.customers.ssn",
			opts: denyProbing},
		// so does a set-returning function anywhere
		{name: "set-returning function probe", sql: "SELECT unnest(string_to_array(c.ssn, NULL)) FROM customers c",
			outs: "unnest=~customers.ssn", probes: "a set-returning function:customers.ssn",
			refuse: "a set-returning function uses masked column public.customers.ssn", opts: denyProbing},
		{name: "set-returning function of a clean value", sql: "SELECT generate_series(1, id) FROM customers", outs: "generate_series=clean",
			opts: denyProbing},
		// a cast through a function created after initdb is its call
		{name: "user cast", sql: "SELECT id::leaky FROM orders", outs: "id=clean", refuse: "public.leak"},
		{name: "user cast spelled out", sql: "SELECT CAST(id AS public.leaky) FROM orders", outs: "id=clean", refuse: "public.leak"},
		{name: "user cast in a view", sql: "SELECT * FROM cast_view", outs: "x=clean", refuse: "public.leak"},
		// an implicit one needs no cast written
		{name: "implicit user cast", sql: "SELECT encode(id, 'hex') FROM orders", outs: "encode=clean", refuse: "public.leak",
			opts: func(o *Options) { o.Catalog.(*fakeCatalog).implicitCast = true }},
		// an explicit one to another type is not reached
		{name: "cast to another type", sql: "SELECT id::text FROM orders", outs: "id=clean"},
		// built-in operators are not reported
		{name: "built-in operator", sql: "SELECT name FROM customers WHERE name LIKE 'a%'", outs: "name=customers.name"},
		// information_schema's functions are built in
		{name: "information_schema function", sql: "SELECT information_schema._pg_truetypid(a, t) FROM pg_class a, pg_class t",
			outs: "_pg_truetypid=clean"},
		// a function that does not exist is not trusted either
		{name: "unknown function", sql: "SELECT no_such_fn(ssn) FROM customers", outs: "no_such_fn=~customers.ssn", refuse: "no_such_fn"},
		// query_to_xml runs SQL text the tree cannot see into
		{name: "query_to_xml", sql: "SELECT query_to_xml('select ssn from customers', true, false, '')", outs: "query_to_xml=?",
			refuse: "query_to_xml() runs SQL given as text"},
		// wherever it sits: its text may pass masked values to a sink
		{name: "ts_stat in WHERE", sql: "SELECT 1 WHERE EXISTS (SELECT FROM ts_stat('select to_tsvector(pg_advisory_lock(ascii(ssn))::text) from customers'))",
			outs: "?column?=clean", refuse: "ts_stat() runs SQL given as text"},
		{name: "cursor_to_xml", sql: "SELECT cursor_to_xml('c', 10, true, false, '')", outs: "cursor_to_xml=?",
			refuse: "cursor_to_xml() runs SQL"},
		// pg_stats shows sampled values of masked columns
		{name: "pg_stats", sql: "SELECT most_common_vals FROM pg_stats WHERE attname = 'ssn'", outs: "most_common_vals=?",
			refuse: "cannot be traced"},
		// a relation the catalog does not know might be anything
		{name: "unknown relation", sql: "SELECT * FROM ghost", outs: "=...?", refuse: "cannot be traced"},
		// a view nesting beyond the depth limit
		{name: "view loop", sql: "SELECT x FROM loop", outs: "x=?", refuse: "cannot be traced"},
		// a view whose definition does not parse
		{name: "broken view", sql: "SELECT a FROM broken", outs: "a=?", refuse: "cannot be traced"},
		// a DO block can read anything
		{name: "do", sql: "DO $$ BEGIN RAISE NOTICE '%', (SELECT ssn FROM customers LIMIT 1); END $$", outs: "", refuse: "DO block"},
		// SELECT INTO copies masked values into an unmasked table
		{name: "select into", sql: "SELECT ssn INTO plain FROM customers", outs: "", refuse: "stores values of masked column public.customers.ssn"},
		// CREATE TABLE AS does the same
		{name: "ctas", sql: "CREATE TABLE plain AS SELECT email FROM customers", outs: "", refuse: "stores values"},
		// CREATE TABLE AS EXECUTE stores rows this statement does not show
		{name: "ctas execute", sql: "CREATE TABLE plain AS EXECUTE p", outs: "", refuse: "stores values whose origin cannot be traced"},
		// INSERT ... SELECT of a masked column into an unmasked one
		{name: "insert select", sql: "INSERT INTO notes (body) SELECT ssn FROM customers", outs: "", refuse: "notes.body"},
		// UPDATE SET of a masked value into an unmasked column
		{name: "update launder", sql: "UPDATE customers SET name = ssn", outs: "", refuse: "customers.name"},
		// set_config keeps a masked value where current_setting reads it back
		{name: "set_config", sql: "SELECT set_config('my.v', ssn, false) FROM customers LIMIT 1", outs: "set_config=~customers.ssn",
			refuse: "to set_config()"},
		// pg_notify sends a masked value to listeners
		{name: "pg_notify", sql: "SELECT pg_catalog.pg_notify('c', email) FROM customers", outs: "pg_notify=~customers.email", refuse: "pg_notify"},
		// a large object written from a masked value
		{name: "lo_from_bytea", sql: "SELECT lo_from_bytea(0, convert_to(phone, 'UTF8')) FROM customers", outs: "lo_from_bytea=~customers.phone",
			refuse: "lo_from_bytea"},
		// a function body runs later, out of sight
		{name: "create function", sql: "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS 'SELECT ssn FROM customers LIMIT 1'", outs: "",
			refuse: "CreateFunctionStmt"},
		// a trigger on an unmasked table can copy masked data when it fires
		{name: "create trigger", sql: "CREATE TRIGGER t AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION f()", outs: "",
			refuse: "CreateTrigStmt"},
		// MERGE is not traced and names a masked table
		{name: "merge", sql: "MERGE INTO notes n USING customers c ON n.id = c.id WHEN NOT MATCHED THEN INSERT VALUES (c.id, c.ssn)",
			outs: "", refuse: "cannot trace a MergeStmt"},
		// CREATE VIEW over a masked table is not traced
		{name: "create view", sql: "CREATE VIEW v AS SELECT ssn FROM customers", outs: "", refuse: "ViewStmt"},
		// an untraceable output beside a masked relation
		{name: "unknown spread", sql: "SELECT * FROM customers, ghost", outs: "id=customers.id name=customers.name email=customers.email ssn=customers.ssn card_number=customers.card_number phone=customers.phone =...?",
			refuse: "output column 7"},
	})
}
