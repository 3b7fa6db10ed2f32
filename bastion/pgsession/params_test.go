package pgsession

import (
	"encoding/json"
	"testing"

	"github.com/gatehouse-dev/gatehouse/bastion/pgwire"
)

func TestRecordedParameters(t *testing.T) {
	if got := recordedParameters(nil); got != nil {
		t.Fatalf("no values kept, got %v", got)
	}
	got, err := json.Marshal(recordedParameters([]pgwire.Parameter{
		{Value: []byte("héllo")},
		{},                         // SQL NULL
		{Value: []byte{}},          // the empty string is not NULL
		{Value: []byte{0xff, 'a'}}, // text that is not UTF-8 is kept byte for byte
		{Value: []byte{0, 7}, Binary: true},
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := `["héllo",null,"",{"format":"text","base64":"/2E="},{"format":"binary","base64":"AAc="}]`
	if string(got) != want {
		t.Fatalf("recorded %s\nwant     %s", got, want)
	}
}
