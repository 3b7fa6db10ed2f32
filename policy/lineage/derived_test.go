package lineage

import "testing"

func TestDerivedColumns(t *testing.T) {
	runCases(t, []lineageCase{
		// a cast changes the type, not where the value comes from
		{name: "cast", sql: "SELECT ssn::text FROM customers", outs: "ssn=~customers.ssn"},
		// CAST(... AS ...) spelled out
		{name: "CAST", sql: "SELECT CAST(card_number AS varchar(4)) AS c FROM customers", outs: "c=~customers.card_number"},
		// concatenation mixes masked and clean values
		{name: "concatenation", sql: "SELECT name || ' ' || email FROM customers", outs: "?column?=~customers.email"},
		// substring with SQL syntax is a pg_catalog function
		{name: "substring", sql: "SELECT substring(ssn FROM 1 FOR 3) FROM customers", outs: "substring=~customers.ssn"},
		// CASE feeds every branch and condition into the result
		{name: "case", sql: "SELECT CASE WHEN ssn LIKE '1%' THEN 'a' ELSE name END FROM customers", outs: "name=~customers.ssn"},
		// a CASE without a named ELSE is called case, and a cast of one by its type
		{name: "case name", sql: "SELECT CASE WHEN id = 1 THEN 'a' END, CASE WHEN ssn = '' THEN 1 ELSE 2 END::text FROM customers",
			outs: "case=clean text=~customers.ssn"},
		// COALESCE of two masked columns
		{name: "coalesce", sql: "SELECT coalesce(email, phone) FROM customers", outs: "coalesce=~customers.email+customers.phone"},
		// a function call carries its arguments
		{name: "function", sql: "SELECT lower(email) AS e FROM customers", outs: "e=~customers.email"},
		// string_agg aggregates masked values
		{name: "string_agg", sql: "SELECT string_agg(ssn, ',') FROM customers", outs: "string_agg=~customers.ssn"},
		// array_agg
		{name: "array_agg", sql: "SELECT array_agg(card_number) FROM customers", outs: "array_agg=~customers.card_number"},
		// json_agg of a whole row carries every masked column
		{name: "json_agg whole row", sql: "SELECT json_agg(c) FROM customers c",
			outs: "json_agg=~customers.card_number+customers.email+customers.phone+customers.ssn"},
		// the ORDER BY of an aggregate feeds it
		{name: "aggregate order", sql: "SELECT string_agg(name, ',' ORDER BY ssn) FROM customers", outs: "string_agg=~customers.ssn"},
		// row_to_json of a table alias is a whole-row reference
		{name: "row_to_json", sql: "SELECT row_to_json(c) FROM customers c",
			outs: "row_to_json=~customers.card_number+customers.email+customers.phone+customers.ssn"},
		// to_jsonb of t.*
		{name: "to_jsonb star", sql: "SELECT to_jsonb(c.*) FROM customers c",
			outs: "to_jsonb=~customers.card_number+customers.email+customers.phone+customers.ssn"},
		// a whole row cast to text
		{name: "whole row cast", sql: "SELECT c::text FROM customers c",
			outs: "c=~customers.card_number+customers.email+customers.phone+customers.ssn"},
		// a bare alias in the select list is a whole-row reference
		{name: "whole row bare", sql: "SELECT c FROM customers c",
			outs: "c=~customers.card_number+customers.email+customers.phone+customers.ssn"},
		// a field of a whole row is that column
		{name: "field of row", sql: "SELECT (c).ssn, (c).name FROM customers c", outs: "ssn=customers.ssn name=customers.name"},
		// a subscript of a field of a whole row is derived from it
		{name: "subscript of row field", sql: "SELECT (c).email[1] FROM customers c", outs: "email=~customers.email"},
		// (c).* expands the row's columns
		{name: "row field star", sql: "SELECT (c).*, (o.*).* FROM customers c, notes o",
			outs: "id=customers.id name=customers.name email=customers.email ssn=customers.ssn card_number=customers.card_number phone=customers.phone id=notes.id body=notes.body"},
		// the fields of a composite value are not named in the text
		{name: "composite star", sql: "SELECT (json_populate_record(NULL::notes, row_to_json(c))).* FROM customers c",
			outs: "=...~customers.card_number+customers.email+customers.phone+customers.ssn"},
		// ROW constructor
		{name: "row constructor", sql: "SELECT ROW(id, ssn) FROM customers", outs: "row=~customers.ssn"},
		// json_build_object with a masked value
		{name: "json_build_object", sql: "SELECT json_build_object('e', email) FROM customers", outs: "json_build_object=~customers.email"},
		// ARRAY[...] constructor
		{name: "array constructor", sql: "SELECT ARRAY[phone, name] AS a FROM customers", outs: "a=~customers.phone"},
		// an ARRAY subquery
		{name: "array subquery", sql: "SELECT ARRAY(SELECT ssn FROM customers)", outs: "array=~customers.ssn"},
		// a window function ordered by a masked column leaks its order
		{name: "window order", sql: "SELECT id, rank() OVER (ORDER BY ssn) FROM customers", outs: "id=customers.id rank=~customers.ssn",
			probes: "WINDOW:customers.ssn"},
		// a named window
		{name: "named window", sql: "SELECT row_number() OVER w FROM customers WINDOW w AS (PARTITION BY email)",
			outs: "row_number=~customers.email", probes: "WINDOW:customers.email"},
		// aggregate FILTER is a predicate on the masked value
		{name: "filter", sql: "SELECT count(*) FILTER (WHERE ssn LIKE '1%') FROM customers", outs: "count=~customers.ssn",
			probes: "FILTER:customers.ssn"},
		// a set-returning function in FROM derives from its arguments
		{name: "function in FROM", sql: "SELECT * FROM unnest(ARRAY(SELECT email FROM customers)) AS u(e)", outs: "e=~customers.email =...~customers.email"},
		// a column definition list names the function's columns
		{name: "function coldeflist", sql: "SELECT * FROM json_to_record((SELECT row_to_json(c) FROM customers c LIMIT 1)) AS r(ssn text)",
			outs: "ssn=~customers.card_number+customers.email+customers.phone+customers.ssn"},
		// ROWS FROM with one function of unlisted columns
		{name: "rows from", sql: "SELECT * FROM ROWS FROM (json_to_record('{}') AS (a text), unnest(ARRAY[(SELECT ssn FROM customers LIMIT 1)])) r",
			outs: "a=~customers.ssn =...~customers.ssn"},
		// json_each of a whole row: columns unnamed, still derived
		{name: "json_each", sql: "SELECT j.value FROM customers c, json_each(row_to_json(c)) j",
			outs: "value=~customers.card_number+customers.email+customers.phone+customers.ssn"},
		// XMLTABLE fed from a masked column
		{name: "xmltable", sql: "SELECT x.* FROM customers c, XMLTABLE('/a' PASSING (c.email::xml) COLUMNS v text PATH 'b') x",
			outs: "=...~customers.email"},
		// TABLESAMPLE reads the same columns
		{name: "tablesample", sql: "SELECT ssn FROM customers TABLESAMPLE SYSTEM (50)", outs: "ssn=customers.ssn"},
		// a GREATEST over two masked columns
		{name: "greatest", sql: "SELECT greatest(email, ssn) AS g FROM customers", outs: "g=~customers.email+customers.ssn"},
		// a UNION of a masked column with a constant is Derived
		{name: "union with constant", sql: "SELECT ssn FROM customers UNION SELECT 'x'", outs: "ssn=~customers.ssn"},
		// a UNION arm of unknown width folds what follows into one spread
		{name: "union with spread", sql: "SELECT * FROM generate_series(1, 2) UNION SELECT ssn FROM customers", outs: "=...~customers.ssn"},
		// names PostgreSQL gives to SQL-syntax expressions
		{name: "figured names", sql: "SELECT least(id, 2), current_date, xmlelement(name a, ssn), json_object('a': email), name COLLATE \"C\" FROM customers",
			outs: "least=clean current_date=clean xmlelement=~customers.ssn json_object=~customers.email name=clean"},
		// a CTE that computes from masked columns
		{name: "CTE derived", sql: "WITH x AS (SELECT md5(ssn) h FROM customers) SELECT h FROM x", outs: "h=~customers.ssn"},
		// a full join's USING column could come from either side
		{name: "full join using", sql: "SELECT id FROM customers FULL JOIN orders USING (id)", outs: "id=clean"},
	})
}
