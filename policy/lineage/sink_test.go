package lineage

import (
	"strings"
	"testing"
)

// TestSinks: a masked value passed to a function that shows its
// arguments elsewhere is refused wherever the call sits; the same calls
// over clean values are not.
func TestSinks(t *testing.T) {
	refused := []struct{ name, sql string }{
		// pg_locks.objid shows the key (issue 12, item 4)
		{"advisory lock", "SELECT pg_advisory_lock(replace(ssn, '-', '')::bigint) FROM customers"},
		{"advisory lock in WHERE", "SELECT id FROM customers WHERE pg_try_advisory_lock(length(email)::bigint, id)"},
		{"advisory xact lock in ORDER BY", "SELECT id FROM customers ORDER BY pg_advisory_xact_lock(hashtext(ssn))"},
		{"shared advisory lock qualified", "SELECT pg_catalog.pg_advisory_lock_shared(ascii(card_number)) FROM customers"},
		{"advisory lock of a scalar subquery", "SELECT pg_advisory_lock((SELECT ascii(ssn) FROM customers LIMIT 1))"},
		{"advisory lock in FROM", "SELECT * FROM pg_advisory_lock((SELECT ascii(ssn) FROM customers LIMIT 1))"},
		{"advisory lock inside another call", "SELECT coalesce(pg_try_advisory_xact_lock_shared(ascii(phone))::text, '') FROM customers"},
		{"advisory lock in a CTE", "WITH x AS (SELECT pg_advisory_lock(ascii(ssn)) FROM customers) SELECT 1 FROM x"},
		// a WARNING names the pid
		{"pg_cancel_backend", "SELECT pg_cancel_backend(replace(ssn, '-', '')::int) FROM customers"},
		{"pg_terminate_backend", "SELECT 1 FROM customers WHERE pg_terminate_backend(ascii(ssn))"},
		// application_name is shown by pg_stat_activity and ParameterStatus
		{"set_config application_name", "SELECT set_config('application_name', email, false) FROM customers"},
		{"pg_notify in HAVING", "SELECT 1 FROM customers GROUP BY id HAVING pg_notify('c', max(ssn)) IS NULL"},
		{"large object with the value as OID", "SELECT lo_create(ascii(ssn)::oid) FROM customers"},
		{"large object bytes", "SELECT lo_from_bytea(0, convert_to(email, 'UTF8')) FROM customers"},
		{"setval", "SELECT setval('s', ascii(ssn)) FROM customers"},
		{"WAL message", "SELECT pg_logical_emit_message(false, 'p', ssn) FROM customers"},
		{"replication slot name", "SELECT pg_create_logical_replication_slot(ssn, 'test_decoding') FROM customers"},
		{"replication origin", "SELECT pg_replication_origin_create(email) FROM customers"},
		{"restore point", "SELECT pg_create_restore_point(ssn) FROM customers"},
		{"through a view", "SELECT pg_advisory_lock(ascii(mail)) FROM customer_emails"},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			r := analyzeCase(t, lineageCase{sql: c.sql})
			if !strings.Contains(r.Refuse, "masked column") || !strings.Contains(r.Refuse, "elsewhere") {
				t.Fatalf("%s\nrefuse = %q, want a refusal for a masked value reaching a sink", c.sql, r.Refuse)
			}
		})
	}
	allowed := []string{
		"SELECT pg_advisory_lock(42)",
		"SELECT pg_advisory_lock(id) FROM customers",
		"SELECT pg_cancel_backend(pg_backend_pid() + 1000000)",
		"SELECT set_config('application_name', name, false) FROM customers",
		"SELECT pg_try_advisory_xact_lock(id) FROM orders WHERE total > 0",
	}
	for _, sql := range allowed {
		t.Run(sql, func(t *testing.T) {
			if r := analyzeCase(t, lineageCase{sql: sql}); r.Refuse != "" {
				t.Fatalf("%s\nrefused: %s", sql, r.Refuse)
			}
		})
	}
}
