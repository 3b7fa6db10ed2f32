package pgwire

import (
	"encoding/binary"
	"math"

	"github.com/jackc/pgx/v5/pgproto3"
)

// wideParameterDescription is a ParameterDescription of more than 65,535
// parameters, passed on as PostgreSQL sends it: the count field holds
// only the low 16 bits of the count (it is an Int16 on the wire) and every
// OID follows, so a client reads the count from the length, as pgx does,
// and refuses the Bind itself, which cannot carry that many values. (pgx's
// encoder refuses such a message, which would end the session.)
type wideParameterDescription struct {
	oids []uint32
}

func (*wideParameterDescription) Backend() {}

func (*wideParameterDescription) Decode([]byte) error {
	panic("pgwire: wideParameterDescription is only encoded")
}

func (m *wideParameterDescription) Encode(dst []byte) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 't', 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(m.oids)))
	for _, oid := range m.oids {
		dst = binary.BigEndian.AppendUint32(dst, oid)
	}
	// At most MaxUpstreamMessageSize, as it came: the length fits.
	binary.BigEndian.PutUint32(dst[start+1:], uint32(len(dst)-start-1))
	return dst, nil
}

// forClient is how a ParameterDescription reaches the client.
func forClient(m *pgproto3.ParameterDescription) pgproto3.BackendMessage {
	if len(m.ParameterOIDs) > math.MaxUint16 {
		return &wideParameterDescription{oids: m.ParameterOIDs}
	}
	return m
}
