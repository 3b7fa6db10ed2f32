package pgsession

import (
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/gatehouse-dev/gatehouse/bastion/pgwire"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/policy/lineage"
	"github.com/gatehouse-dev/gatehouse/policy/masking"
)

// bulkMasking masks bulk.email (oid 100, attnum 3) and bulk.card (attnum
// 5), as the bench's bulk read does.
func bulkMasking(t testing.TB) *sessionMasking {
	masker, err := masking.NewMasker(make([]byte, masking.MinHashKeySize))
	if err != nil {
		t.Fatal(err)
	}
	m := &sessionMasking{
		name:   "bulk",
		policy: policy.MaskingPolicy{Columns: map[string]string{"public.bulk.email": "email", "public.bulk.card": "last4"}, OnDerived: "mask"},
		masker: masker,
		cache:  &catalogCache{},
		key:    "k",
	}
	m.cat = &maskCatalog{
		columns: map[columnID]maskedColumn{
			{100, 3}: {name: "public.bulk.email", fn: "email"},
			{100, 5}: {name: "public.bulk.card", fn: "last4"},
		},
		tables:    map[uint32]string{100: "public.bulk"},
		views:     map[uint32]string{200: "public.bulk_v"},
		relations: map[uint32]bool{100: true, 200: true, 300: true},
	}
	return m
}

func bulkFields() []pgproto3.FieldDescription {
	f := func(name string, attnum uint16) pgproto3.FieldDescription {
		return pgproto3.FieldDescription{Name: []byte(name), TableOID: 100, TableAttributeNumber: attnum, DataTypeOID: 25}
	}
	return []pgproto3.FieldDescription{f("id", 1), f("name", 2), f("email", 3), f("city", 4), f("card", 5), f("amount", 6)}
}

// detailWith is a statement's detail whose masking detail is md.
func detailWith(md *maskingDetail) *statementDetail {
	d := &statementDetail{}
	d.masking.Store(md)
	return d
}

func TestMaskingColumnRules(t *testing.T) {
	m := bulkMasking(t)
	clean := detailWith(&maskingDetail{readsMasked: false})
	reads := detailWith(&maskingDetail{readsMasked: true})
	cases := []struct {
		what   string
		field  pgproto3.FieldDescription
		detail any
		want   string
	}{
		{"a masked column, any alias", pgproto3.FieldDescription{Name: []byte("x"), TableOID: 100, TableAttributeNumber: 3}, clean, "email"},
		{"an unmasked column", pgproto3.FieldDescription{TableOID: 100, TableAttributeNumber: 1}, clean, ""},
		{"a whole row of a masked table", pgproto3.FieldDescription{TableOID: 100, TableAttributeNumber: 0}, clean, "redact"},
		{"a view that reads masked data", pgproto3.FieldDescription{TableOID: 200, TableAttributeNumber: 1}, clean, "redact"},
		{"another table", pgproto3.FieldDescription{TableOID: 300, TableAttributeNumber: 1}, clean, ""},
		{"a relation made since the catalog was read", pgproto3.FieldDescription{TableOID: 400, TableAttributeNumber: 1}, clean, "redact"},
		{"computed, statement reads masked data", pgproto3.FieldDescription{}, reads, "redact"},
		{"computed, statement reads no masked data", pgproto3.FieldDescription{}, clean, ""},
		{"computed, statement unknown", pgproto3.FieldDescription{}, nil, "redact"},
	}
	for _, c := range cases {
		rw := m.results(pgwire.Result{Fields: []pgproto3.FieldDescription{c.field}, Detail: c.detail})
		got := ""
		if len(rw.Notes) > 0 {
			got = string(rw.Notes[0][len(c.field.Name)+2:])
			got = got[:len(c.want)]
		}
		if (rw.Columns[0] == nil) != (c.want == "") || got != c.want {
			t.Errorf("%s: notes %q, want rule %q", c.what, rw.Notes, c.want)
		}
	}
}

func TestMaskingOutputsFromLineage(t *testing.T) {
	m := bulkMasking(t)
	d := detailWith(&maskingDetail{readsMasked: true, outputs: [][]lineage.Output{{
		{Name: "n", Kind: lineage.Clean},
		{Name: "e", Kind: lineage.Direct, Column: lineage.Column{Schema: "public", Table: "bulk", Name: "email"}},
		{Name: "u", Kind: lineage.Derived, Sources: []lineage.Column{{Schema: "public", Table: "bulk", Name: "email"}}},
		{Name: "q", Kind: lineage.Unknown},
	}}})
	fields := []pgproto3.FieldDescription{{Name: []byte("n")}, {Name: []byte("e")}, {Name: []byte("u")}, {Name: []byte("q")}}
	rw := m.results(pgwire.Result{Fields: fields, Detail: d})
	if rw.Columns[0] != nil || rw.Columns[1] == nil || rw.Columns[2] == nil || rw.Columns[3] == nil {
		t.Fatalf("rewrites %v, notes %q", rw.Columns, rw.Notes)
	}
	out, null := rw.Columns[1](nil, []byte("ada@example.com"))
	if null || string(out) != "a***@example.com" {
		t.Fatalf("RETURNING email masked as %q", out)
	}
	// Another column count than lineage saw: untraced, every computed
	// column masked.
	rw = m.results(pgwire.Result{Fields: fields[:2], Detail: d})
	if rw.Columns[0] == nil || rw.Columns[1] == nil {
		t.Fatalf("a result of another width was trusted: %q", rw.Notes)
	}
}

// BenchmarkMaskRow: one bulk row (6 text columns, email and card masked)
// through the rewrite, as the relay does it.
func BenchmarkMaskRow(b *testing.B) {
	m := bulkMasking(b)
	rw := m.results(pgwire.Result{Fields: bulkFields(), Detail: detailWith(&maskingDetail{})})
	row := [][]byte{[]byte("123456"), []byte("name 123456"), []byte("person123456@example.com"), []byte("Lima"), []byte("4000000000123456"), []byte("1234.56")}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = buf[:0]
		for i, v := range row {
			if fn := rw.Columns[i]; fn != nil {
				buf, _ = fn(buf, v)
			}
		}
	}
}
