package evidence

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
)

// FuzzVerifyBundle: verify reads a zip from whoever hands it over. Any
// bytes give an error or a result, never a panic, and nothing that is not
// the signed, intact bundle is reported clean.
func FuzzVerifyBundle(f *testing.F) {
	fx := newFixture(f)
	good := fx.build(f, fx.opts)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte("PK\x05\x06" + string(make([]byte, 18))))
	f.Add([]byte{})
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := VerifyBundle(bytes.NewReader(data), int64(len(data)), []ed25519.PublicKey{fx.pub, pub})
		if err != nil || res == nil || len(res.Problems) > 0 {
			return
		}
		if !bytes.Equal(data, good) {
			// A different zip of the same files is fine (entries reordered,
			// other compression); the signature covers the manifest, which
			// covers every file's hash, so clean means the same contents.
			if res.SignedBy == "" || len(res.Manifest.Files) == 0 {
				t.Fatalf("a clean result without a signer or files: %+v", res)
			}
		}
	})
}
