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
	return c.versions(kind, kind+"/")
}

// Version is one stream's entry of Versions.
func (c *Client) Version(kind, id string) (string, error) {
	prefix, err := Prefix(kind, id)
	if err != nil {
		return "", err
	}
	versions, err := c.versions(kind, prefix)
	if err != nil {
		return "", err
	}
	return versions[id], nil
}

// versions is Versions of the objects under prefix.
func (c *Client) versions(kind, prefix string) (map[string]string, error) {
	parts := map[string]*strings.Builder{}
	for obj := range c.mc.ListObjects(context.Background(), c.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
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
