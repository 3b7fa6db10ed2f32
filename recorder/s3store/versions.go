package s3store

import (
	"context"
	"fmt"
	"strings"

	"github.com/minio/minio-go/v7"
)

// Versions returns, for each stream of a kind in the bucket, a version
// that changes whenever one of its objects (chunks, manifest) is added,
// replaced or removed: their names, sizes and etags, from one listing.
// The console's index re-reads a stream only when its version changed.
func (c *Client) Versions(kind string) (map[string]string, error) {
	if err := checkName(kind); err != nil {
		return nil, err
	}
	parts := map[string]*strings.Builder{}
	for obj := range c.mc.ListObjects(context.Background(), c.bucket, minio.ListObjectsOptions{Prefix: kind + "/", Recursive: true}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("s3store: list %s: %w", kind, obj.Err)
		}
		k, id, name, ok := ParseKey(obj.Key)
		if !ok || k != kind {
			continue
		}
		b := parts[id]
		if b == nil {
			b = &strings.Builder{}
			parts[id] = b
		}
		fmt.Fprintf(b, "%s:%d:%s;", name, obj.Size, strings.Trim(obj.ETag, `"`))
	}
	out := make(map[string]string, len(parts))
	for id, b := range parts {
		out[id] = md5Hex([]byte(b.String()))
	}
	return out, nil
}
