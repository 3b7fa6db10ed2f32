package lineage

import (
	"fmt"
	"slices"
	"strings"
)

// opaqueFunctions are pg_catalog functions that run SQL given as text or
// read relations named by a value (query_to_xml('select ssn from
// customers', ...)), so what they return cannot be traced from the tree.
var opaqueFunctions = []string{
	"query_to_xml", "query_to_xmlschema", "query_to_xml_and_xmlschema",
	"cursor_to_xml", "cursor_to_xmlschema",
	"table_to_xml", "table_to_xmlschema", "table_to_xml_and_xmlschema",
	"schema_to_xml", "schema_to_xmlschema", "schema_to_xml_and_xmlschema",
	"database_to_xml", "database_to_xmlschema", "database_to_xml_and_xmlschema",
	"ts_stat", "ts_rewrite",
}

// systemSchemas hold the functions initdb creates: pg_catalog's, and the
// SQL functions behind information_schema's views, which an agent
// listing columns reads through.
var systemSchemas = []string{"pg_catalog", "information_schema"}

// sinkFunctions are pg_catalog functions that keep or send their
// arguments where a later statement or another session reads them
// unmasked: settings, notifications, large objects, sequences, WAL.
var sinkFunctions = []string{
	"set_config", "pg_notify", "lo_from_bytea", "lo_put", "lowrite", "setval", "pg_logical_emit_message",
}

// function notes a call of the function named by parts and returns its
// name when the call reaches pg_catalog, "" when it may reach a function
// outside. Those are reported, since their bodies can read masked
// columns where the statement shows none.
func (a *analyzer) function(parts []string) (builtin string) {
	if len(parts) == 0 {
		return ""
	}
	schema, name := strings.Join(parts[:len(parts)-1], "."), parts[len(parts)-1]
	if slices.Contains(systemSchemas, schema) {
		return name
	}
	key := qualifiedName(schema, name)
	cacheKey := key + " " + strings.Join(a.opts.SearchPath, ",")
	outside, seen := a.funcSchemas[cacheKey]
	if !seen {
		schemas, err := a.opts.Catalog.FunctionSchemas(a.opts.SearchPath, schema, name)
		if err != nil && !isNotFound(err) {
			a.fail(fmt.Errorf("lineage: resolve function %s: %w", key, err))
			return ""
		}
		user := slices.DeleteFunc(slices.Clone(schemas), func(s string) bool { return slices.Contains(systemSchemas, s) })
		outside = len(schemas) == 0 || len(user) > 0
		a.funcSchemas[cacheKey] = outside
		if outside {
			a.functions = append(a.functions, reportedFunction(schema, name, user))
		}
	}
	if outside {
		return ""
	}
	return name
}

// reportedFunction names a function schema-qualified when the catalog
// says which schema an unqualified call reaches, so allow_functions can
// list it either way.
func reportedFunction(schema, name string, user []string) string {
	if schema == "" && len(user) == 1 {
		return user[0] + "." + name
	}
	return qualifiedName(schema, name)
}

// allowedFunction says whether allow_functions lists f, by its qualified
// or its bare name.
func allowedFunction(allow []string, f string) bool {
	bare := f[strings.LastIndex(f, ".")+1:]
	return slices.Contains(allow, f) || slices.Contains(allow, bare)
}
