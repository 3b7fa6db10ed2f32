package pgstate

import "github.com/gatehouse-dev/gatehouse/ca"

// Sources are a data_dir's state as `gatehouse state import` reads it.
type Sources struct {
	Revocations []ca.Revocation
	Requests    []ca.AccessRequest
	Issued      []ca.IssuedEvent
}

// Imported counts what Import added; what the database held already is
// not counted.
type Imported struct {
	Revocations, Requests, Issued int
}

// Import adds to the store what src holds and the store lacks: running
// it again adds nothing. Revocations go in one transaction, which
// notifies every replica; requests keep their ids and states.
func (s *Store) Import(src Sources) (Imported, error) {
	var n Imported
	var err error
	if n.Revocations, err = s.Revocations().Import(src.Revocations...); err != nil {
		return n, err
	}
	for _, r := range src.Requests {
		added, err := s.Requests().Import(r)
		if err != nil {
			return n, err
		}
		n.Requests += count(added)
	}
	for _, e := range src.Issued {
		added, err := s.Issued().Import(e)
		if err != nil {
			return n, err
		}
		n.Issued += count(added)
	}
	return n, nil
}

func count(added bool) int {
	if added {
		return 1
	}
	return 0
}
