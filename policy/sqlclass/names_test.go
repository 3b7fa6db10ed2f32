package sqlclass

import "testing"

func TestClassifyNames(t *testing.T) {
	tests := []struct {
		sql  string
		want NameChange
	}{
		{"DECLARE c CURSOR FOR SELECT 1", NameChange{Op: Declare, Name: "c"}},
		{`DECLARE "C" BINARY SCROLL CURSOR WITH HOLD FOR SELECT 1`, NameChange{Op: Declare, Name: "C", Hold: true}},
		{"DECLARE c CURSOR WITHOUT HOLD FOR SELECT 1", NameChange{Op: Declare, Name: "c"}},
		{"CLOSE c", NameChange{Op: Close, Name: "c"}},
		{"CLOSE ALL", NameChange{Op: Close, All: true}},
		{"FETCH 5 FROM c", NameChange{Op: Fetch, Name: "c"}},
		{"FETCH ALL IN Cur", NameChange{Op: Fetch, Name: "cur"}},
		{"MOVE LAST IN c", NameChange{Op: Fetch, Name: "c"}},
		{"PREPARE p AS SELECT 1", NameChange{Op: Prepare, Name: "p"}},
		{"DEALLOCATE p", NameChange{Op: Deallocate, Name: "p"}},
		{"DEALLOCATE PREPARE p", NameChange{Op: Deallocate, Name: "p"}},
		{"DEALLOCATE ALL", NameChange{Op: Deallocate, All: true}},
		{"DISCARD ALL", NameChange{Op: Discard, All: true}},
		{"DISCARD PLANS", NameChange{}},
		{"DISCARD TEMP", NameChange{}},
		{"EXECUTE p", NameChange{}},
		{"SELECT 1", NameChange{}},
	}
	for _, tt := range tests {
		sts, err := Classify(tt.sql)
		if err != nil {
			t.Fatalf("%s: %v", tt.sql, err)
		}
		if got := sts[0].Names; got != tt.want {
			t.Errorf("%s: Names = %+v, want %+v", tt.sql, got, tt.want)
		}
	}
}
