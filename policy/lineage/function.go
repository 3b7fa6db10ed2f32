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

// sinkFunctions are pg_catalog functions whose arguments become visible
// elsewhere: kept where a later statement or another session reads them
// unmasked (settings and application_name, which pg_stat_activity and
// ParameterStatus show; notifications; large objects and their OIDs;
// sequences; advisory lock keys, which pg_locks lists; replication slot
// and origin names, WAL messages, backup labels and restore points), or
// echoed in a message or the server log (the pid of a backend signalled).
// A value of a masked column, or one of unknown origin while masked
// columns are read, is refused as their argument wherever it sits.
var sinkFunctions = []string{
	"set_config", "pg_notify",
	"lo_create", "lo_creat", "lo_import", "lo_from_bytea", "lo_put", "lowrite", "lo_truncate", "lo_truncate64",
	"lo_lseek", "lo_lseek64", "lo_open", "lo_unlink", "lo_export",
	"setval", "nextval",
	"pg_advisory_lock", "pg_advisory_lock_shared", "pg_advisory_xact_lock", "pg_advisory_xact_lock_shared",
	"pg_try_advisory_lock", "pg_try_advisory_lock_shared", "pg_try_advisory_xact_lock",
	"pg_try_advisory_xact_lock_shared", "pg_advisory_unlock", "pg_advisory_unlock_shared",
	"pg_cancel_backend", "pg_terminate_backend", "pg_log_backend_memory_contexts",
	"pg_logical_emit_message",
	"pg_create_physical_replication_slot", "pg_create_logical_replication_slot",
	"pg_copy_physical_replication_slot", "pg_copy_logical_replication_slot", "pg_replication_slot_advance",
	"pg_replication_origin_create", "pg_replication_origin_advance", "pg_replication_origin_session_setup",
	"pg_replication_origin_xact_setup",
	"pg_backup_start", "pg_start_backup", "pg_create_restore_point",
	"pg_restore_relation_stats", "pg_restore_attribute_stats",
}

// function notes a call of the function named by parts and returns its
// name when every function the call could reach is built in (created by
// initdb, Function.BuiltIn), "" when it may reach one created later.
// Those are reported, since their bodies can read masked columns where
// the statement shows none. A schema name proves nothing: a role allowed
// DDL can create functions in pg_catalog.
func (a *analyzer) function(parts []string) (builtin string) {
	if len(parts) == 0 {
		return ""
	}
	schema, name := strings.Join(parts[:len(parts)-1], "."), parts[len(parts)-1]
	key := qualifiedName(schema, name)
	cacheKey := key + " " + strings.Join(a.opts.SearchPath, ",")
	outside, seen := a.funcOutside[cacheKey]
	if !seen {
		fns, err := a.opts.Catalog.Functions(a.ctx, a.opts.SearchPath, schema, name)
		if err != nil && !isNotFound(err) {
			a.fail(fmt.Errorf("lineage: resolve function %s: %w", key, err))
			return ""
		}
		var user []string
		for _, f := range fns {
			if !f.BuiltIn && !slices.Contains(user, f.Schema) {
				user = append(user, f.Schema)
			}
		}
		outside = len(fns) == 0 || len(user) > 0
		a.funcOutside[cacheKey] = outside
		a.funcSets[cacheKey] = slices.ContainsFunc(fns, func(f Function) bool { return f.Set })
		if outside {
			a.functions = append(a.functions, reportedFunction(schema, name, user))
		}
	}
	if outside {
		return ""
	}
	return name
}

// returnsSet says whether a function named by parts, already looked up
// by function, may return a set: how many rows it returns can then be a
// value of its arguments.
func (a *analyzer) returnsSet(parts []string) bool {
	if len(parts) == 0 {
		return false
	}
	schema, name := strings.Join(parts[:len(parts)-1], "."), parts[len(parts)-1]
	return a.funcSets[qualifiedName(schema, name)+" "+strings.Join(a.opts.SearchPath, ",")]
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
