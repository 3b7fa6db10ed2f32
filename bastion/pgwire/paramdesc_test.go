package pgwire

import (
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// TestWideParameterDescription: more than 65,535 parameters go to the
// client as PostgreSQL sends them, and a client decoding by length (pgx)
// reads every OID back; fewer are encoded by pgproto3 itself.
func TestWideParameterDescription(t *testing.T) {
	for _, n := range []int{0, 3, 65535, 65536, 70000} {
		oids := make([]uint32, n)
		for i := range oids {
			oids[i] = uint32(i + 16)
		}
		msg := forClient(&pgproto3.ParameterDescription{ParameterOIDs: oids})
		wire, err := msg.Encode(nil)
		if err != nil {
			t.Fatalf("%d parameters: %v", n, err)
		}
		if wire[0] != 't' || int(uint32(wire[1])<<24|uint32(wire[2])<<16|uint32(wire[3])<<8|uint32(wire[4])) != len(wire)-1 {
			t.Fatalf("%d parameters: bad framing % x", n, wire[:min(len(wire), 8)])
		}
		if count := int(wire[5])<<8 | int(wire[6]); count != n&0xFFFF {
			t.Fatalf("%d parameters: count field %d, want %d", n, count, n&0xFFFF)
		}
		var back pgproto3.ParameterDescription
		if err := back.Decode(wire[5:]); err != nil || !slices.Equal(back.ParameterOIDs, oids) {
			t.Fatalf("%d parameters: decoded %d OIDs (%v)", n, len(back.ParameterOIDs), err)
		}
	}
}
