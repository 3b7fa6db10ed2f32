package sqlclass

import "testing"

func TestClassifyNames(t *testing.T) {
	tests := []struct {
		sql  string
		want NameChange
	}{
		{"DECLARE c CURSOR FOR SELECT 1", NameChange{Op: "declare", Name: "c"}},
		{`DECLARE "C" BINARY SCROLL CURSOR WITH HOLD FOR SELECT 1`, NameChange{Op: "declare", Name: "C", Hold: true}},
		{"DECLARE c CURSOR WITHOUT HOLD FOR SELECT 1", NameChange{Op: "declare", Name: "c"}},
		{"CLOSE c", NameChange{Op: "close", Name: "c"}},
		{"CLOSE ALL", NameChange{Op: "close", All: true}},
		{"FETCH 5 FROM c", NameChange{Op: "fetch", Name: "c"}},
		{"FETCH ALL IN Cur", NameChange{Op: "fetch", Name: "cur"}},
		{"MOVE LAST IN c", NameChange{Op: "fetch", Name: "c"}},
		{"PREPARE p AS SELECT 1", NameChange{Op: "prepare", Name: "p"}},
		{"DEALLOCATE p", NameChange{Op: "deallocate", Name: "p"}},
		{"DEALLOCATE PREPARE p", NameChange{Op: "deallocate", Name: "p"}},
		{"DEALLOCATE ALL", NameChange{Op: "deallocate", All: true}},
		{"DISCARD ALL", NameChange{Op: "discard", All: true}},
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
