package evidence

import (
	"archive/zip"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
)

func verify(t *testing.T, bundle []byte, keys ...ed25519.PublicKey) (*Result, error) {
	t.Helper()
	return VerifyBundle(bytes.NewReader(bundle), int64(len(bundle)), keys)
}

func TestVerifyBundleIntact(t *testing.T) {
	f := newFixture(t)
	bundle := f.build(t, f.opts)
	res, err := verify(t, bundle, f.pub)
	if err != nil || len(res.Problems) > 0 || res.SignedBy == "" || len(res.Manifest.Files) != len(unzip(t, bundle))-2 {
		t.Fatalf("an intact bundle: %+v, %v", res, err)
	}
}

// tamper is one edit of a bundle, and the file verify must name for it.
type tamper struct {
	name   string
	edit   func(t *testing.T, files []dataFile) []dataFile
	naming string
}

// TestVerifyBundleTampered: one byte flipped in any file, a file removed
// or added, the manifest re-signed by another key: verify names the file.
func TestVerifyBundleTampered(t *testing.T) {
	f := newFixture(t)
	built := unzip(t, f.build(t, f.opts))
	tests := []tamper{
		{"removed", func(t *testing.T, files []dataFile) []dataFile { return remove(files, "denials.csv") }, "denials.csv"},
		{"added", func(t *testing.T, files []dataFile) []dataFile {
			return append(files, dataFile{name: "extra.csv", data: []byte("a\n")})
		}, "extra.csv"},
		{"manifest missing", func(t *testing.T, files []dataFile) []dataFile { return remove(files, ManifestFile) }, ManifestFile},
		{"signature missing", func(t *testing.T, files []dataFile) []dataFile { return remove(files, SignatureFile) }, SignatureFile},
		{"re-signed by another key", func(t *testing.T, files []dataFile) []dataFile {
			_, other, _ := ed25519.GenerateKey(rand.Reader)
			sig, err := signManifest(other, fileData(t, files, ManifestFile))
			if err != nil {
				t.Fatal(err)
			}
			return replace(files, SignatureFile, sig)
		}, SignatureFile},
		{"row count edited with its hash", func(t *testing.T, files []dataFile) []dataFile {
			var m Manifest
			mustUnmarshal(t, fileData(t, files, ManifestFile), &m)
			m.Files[1].Rows++
			data, _ := json.Marshal(m)
			return replace(files, ManifestFile, data)
		}, SignatureFile},
	}
	tests = append(tests, tamper{"row count wrong in a validly signed manifest", func(t *testing.T, files []dataFile) []dataFile {
		var m Manifest
		mustUnmarshal(t, fileData(t, files, ManifestFile), &m)
		m.Files[3].Rows++ // statements.csv
		data, _ := json.Marshal(m)
		sig, err := signManifest(f.key, data)
		if err != nil {
			t.Fatal(err)
		}
		return replace(replace(files, ManifestFile, data), SignatureFile, sig)
	}, "statements.csv"})
	for _, file := range built {
		if len(file.data) == 0 {
			continue // nothing to flip; "removed" covers it
		}
		tests = append(tests, struct {
			name   string
			edit   func(t *testing.T, files []dataFile) []dataFile
			naming string
		}{"byte flipped in " + file.name, func(t *testing.T, files []dataFile) []dataFile {
			data := bytes.Clone(file.data)
			data[len(data)/2] ^= 0x01
			return replace(files, file.name, data)
		}, file.name})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bundle := rezip(t, tt.edit(t, clone(built)))
			res, err := verify(t, bundle, f.pub)
			if err != nil {
				t.Fatal(err)
			}
			if !names(res.Problems, tt.naming) {
				t.Errorf("problems %v do not name %s", res.Problems, tt.naming)
			}
		})
	}
}

// TestVerifyBundleWrongKey: a bundle checked against a key that did not
// sign it is refused.
func TestVerifyBundleWrongKey(t *testing.T) {
	f := newFixture(t)
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	res, err := verify(t, f.build(t, f.opts), other)
	if err != nil {
		t.Fatal(err)
	}
	if !names(res.Problems, SignatureFile) || res.SignedBy != "" {
		t.Errorf("a wrong key: problems %v, signed by %q", res.Problems, res.SignedBy)
	}
	if _, err := verify(t, f.build(t, f.opts)); err == nil {
		t.Error("verify without a key succeeded")
	}
}

// TestVerifyBundleUnsafeNames: an entry an unzip could write outside its
// directory, or a name given twice, refuses the whole bundle.
func TestVerifyBundleUnsafeNames(t *testing.T) {
	f := newFixture(t)
	built := unzip(t, f.build(t, f.opts))
	for _, name := range []string{"../evil.csv", "/etc/evil", "dir/evil.csv", `..\evil`, "C:evil", "..", ".", "a\nb", sessionsCSVDuplicate} {
		t.Run(name, func(t *testing.T) {
			bundle := rezip(t, append(clone(built), dataFile{name: name, data: []byte("x\n")}))
			if res, err := verify(t, bundle, f.pub); err == nil {
				t.Errorf("verify accepted an entry named %q: %+v", name, res)
			}
		})
	}
}

const sessionsCSVDuplicate = "sessions.csv"

// TestVerifyBundleBounded: a declared size beyond the limit is refused
// without being read, and data beyond it (whatever is declared) is not
// read past the limit.
func TestVerifyBundleBounded(t *testing.T) {
	f := newFixture(t)
	built := unzip(t, f.build(t, f.opts))
	t.Run("declared", func(t *testing.T) {
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		if err := writeEntries(zw, remove(clone(built), "statements.csv")); err != nil {
			t.Fatal(err)
		}
		w, err := zw.CreateRaw(&zip.FileHeader{Name: "statements.csv", Method: zip.Store, UncompressedSize64: 1 << 50, CompressedSize64: 1})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("x"))
		zw.Close()
		res, err := verify(t, b.Bytes(), f.pub)
		if err != nil {
			t.Fatal(err)
		}
		if !names(res.Problems, "statements.csv") || !strings.Contains(problemText(res.Problems), "declares") {
			t.Errorf("problems %v", res.Problems)
		}
	})
	t.Run("inflated", func(t *testing.T) {
		big := bytes.Repeat([]byte("a,b\n"), 1<<16) // compresses to little
		bundle := rezip(t, replace(clone(built), "sessions.csv", big))
		res, err := verifyBundle(bytes.NewReader(bundle), int64(len(bundle)), []ed25519.PublicKey{f.pub}, 1<<10)
		if err != nil {
			t.Fatal(err)
		}
		if !names(res.Problems, "sessions.csv") {
			t.Errorf("problems %v", res.Problems)
		}
	})
}

func writeEntries(zw *zip.Writer, files []dataFile) error {
	for _, f := range files {
		w, err := zw.Create(f.name)
		if err != nil {
			return err
		}
		if _, err := w.Write(f.data); err != nil {
			return err
		}
	}
	return nil
}

func names(problems []Problem, file string) bool {
	for _, p := range problems {
		if p.File == file || strings.Contains(p.Reason, file) {
			return true
		}
	}
	return false
}

func problemText(problems []Problem) string {
	var s []string
	for _, p := range problems {
		s = append(s, p.String())
	}
	return strings.Join(s, "; ")
}

func clone(files []dataFile) []dataFile { return append([]dataFile(nil), files...) }

func remove(files []dataFile, name string) []dataFile {
	var out []dataFile
	for _, f := range files {
		if f.name != name {
			out = append(out, f)
		}
	}
	return out
}

func replace(files []dataFile, name string, data []byte) []dataFile {
	for i := range files {
		if files[i].name == name {
			files[i].data = data
		}
	}
	return files
}
