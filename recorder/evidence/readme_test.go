package evidence

import (
	"strings"
	"testing"
)

// TestReadmeNamesEveryFile: README.txt says what each file of the bundle
// is, and how to check it with and without gatehouse. (e2e TestEvidence
// runs its commands against a real bundle.)
func TestReadmeNamesEveryFile(t *testing.T) {
	f := newFixture(t)
	files := unzip(t, f.build(t, f.opts))
	text := string(fileData(t, files, ReadmeFile))
	for _, file := range files {
		noun, _, _ := strings.Cut(file.name, ".")
		if file.name != ReadmeFile && !strings.Contains(text, "\n  "+noun+".") {
			t.Errorf("README.txt does not describe %s", file.name)
		}
	}
	for _, want := range []string{"gatehouse verify --bundle", "ssh-keygen -Y verify", "-n " + Namespace, "sha256sum --strict -c"} {
		if !strings.Contains(text, want) {
			t.Errorf("README.txt does not say %q", want)
		}
	}
	if got := len(ReadmeCommands(text)); got != 5 {
		t.Errorf("README.txt has %d offline commands, want 5", got)
	}
}
