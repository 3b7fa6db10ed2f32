package clip

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"short", "alice", 8, "alice"},
		{"exactly max", "abcdefgh", 8, "abcdefgh"},
		{"empty", "", 8, ""},
		{"long", "abcdefghij", 8, "abcdefgh…[clipped from 10 bytes]"},
		// "é" is two bytes: cutting at 5 would split it.
		{"cut inside a character", "abcdééé", 5, "abcd…[clipped from 10 bytes]"},
		{"invalid UTF-8 is cut at max", "abcd\xff\xff\xff\xff\xff", 6, "abcd\xff\xff…[clipped from 9 bytes]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := String(tt.in, tt.max); got != tt.want {
				t.Errorf("String(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
		})
	}
}

func TestNameBoundsAHugeValue(t *testing.T) {
	huge := strings.Repeat("ü", 100<<10) // 200 KiB, two bytes a character
	got := Name(huge)
	if len(got) > NameMax+40 {
		t.Fatalf("Name kept %d bytes of %d, want about %d", len(got), len(huge), NameMax)
	}
	if !utf8.ValidString(got) {
		t.Errorf("Name split a character: %q", got[len(got)-40:])
	}
	if !strings.HasSuffix(got, "…[clipped from 204800 bytes]") {
		t.Errorf("Name(%d bytes) ends %q, want the original length", len(huge), got[len(got)-40:])
	}
}

func TestNames(t *testing.T) {
	long := strings.Repeat("x", NameMax+1)
	many := make([]string, ListMax+5)
	for i := range many {
		many[i] = "orders:readonly"
	}
	tests := []struct {
		name    string
		in      []string
		wantLen int
		last    string
	}{
		{"nil", nil, 0, ""},
		{"short list", []string{"a:b", "c:d"}, 2, "c:d"},
		{"long entry", []string{"a:b", long}, 2, Name(long)},
		{"too many", many, ListMax + 1, "…[5 more clipped]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Names(tt.in)
			if len(got) != tt.wantLen {
				t.Fatalf("Names kept %d entries, want %d: %q", len(got), tt.wantLen, got)
			}
			if tt.wantLen > 0 && got[len(got)-1] != tt.last {
				t.Errorf("last entry %q, want %q", got[len(got)-1], tt.last)
			}
		})
	}
}
