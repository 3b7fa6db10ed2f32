package s3store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Config is how to reach the bucket and how to lock what is put into it.
type Config struct {
	// Endpoint is the S3 endpoint: host[:port] (HTTPS), or a URL
	// https://host[:port] or http://host[:port] (plain HTTP, for a test
	// server on the same machine).
	Endpoint  string
	Bucket    string
	Region    string // optional
	AccessKey string
	SecretKey string
	// Mode is GOVERNANCE or COMPLIANCE (case-insensitive).
	Mode string
	// Retention is how long each object stays locked after it is put.
	Retention time.Duration
	// CreateBucket makes the bucket, with Object Lock, when it does not
	// exist; otherwise Open refuses a missing bucket.
	CreateBucket bool
}

// Client is a connection to the recordings bucket.
type Client struct {
	mc        *minio.Client
	bucket    string
	mode      minio.RetentionMode
	retention time.Duration
	// Now, if set, replaces time.Now for retain-until dates and checks.
	Now func() time.Time
}

// Open connects to the bucket and checks that it exists with Object Lock
// enabled, creating it when cfg.CreateBucket is set. The error of a
// missing or unlocked bucket says how to create one.
func Open(ctx context.Context, cfg Config) (*Client, error) {
	c, err := Dial(cfg)
	if err != nil {
		return nil, err
	}
	if err := c.checkBucket(ctx, cfg); err != nil {
		return nil, err
	}
	return c, nil
}

// Dial makes a client without checking the bucket (for reading).
func Dial(cfg Config) (*Client, error) {
	host, secure, err := parseEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	mode := minio.RetentionMode(strings.ToUpper(cfg.Mode))
	if cfg.Mode != "" && !mode.IsValid() {
		return nil, fmt.Errorf("s3store: mode %q, want governance or compliance", cfg.Mode)
	}
	mc, err := minio.New(host, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: secure,
		Region: cfg.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("s3store: %w", err)
	}
	return &Client{mc: mc, bucket: cfg.Bucket, mode: mode, retention: cfg.Retention}, nil
}

// parseEndpoint reads host[:port] or an http(s) URL without a path.
func parseEndpoint(ep string) (host string, secure bool, err error) {
	if !strings.Contains(ep, "://") {
		if ep == "" || strings.ContainsAny(ep, "/?#") {
			return "", false, fmt.Errorf("s3store: endpoint %q: want host[:port] or http(s)://host[:port]", ep)
		}
		return ep, true, nil
	}
	u, err := url.Parse(ep)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.User != nil {
		return "", false, fmt.Errorf("s3store: endpoint %q: want host[:port] or http(s)://host[:port]", ep)
	}
	return u.Host, u.Scheme == "https", nil
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// MakeBucket creates a bucket, with Object Lock or (for tests of the
// refusal, never by gatehouse itself) without.
func MakeBucket(ctx context.Context, cfg Config, objectLock bool) error {
	c, err := Dial(cfg)
	if err != nil {
		return err
	}
	return c.mc.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region, ObjectLocking: objectLock})
}

// Bucket is the bucket's name.
func (c *Client) Bucket() string { return c.bucket }

// createHint says how to make a bucket fit for recordings.
func createHint(bucket string) string {
	return fmt.Sprintf("create it with Object Lock enabled, e.g. `mc mb --with-lock ALIAS/%s` or "+
		"`aws s3api create-bucket --bucket %s --object-lock-enabled-for-bucket` (add --create-bucket-configuration "+
		"LocationConstraint=REGION outside us-east-1), or set recording.s3.create_bucket: true to let gatehouse create it",
		bucket, bucket)
}

func (c *Client) checkBucket(ctx context.Context, cfg Config) error {
	exists, err := c.mc.BucketExists(ctx, c.bucket)
	if err != nil {
		return fmt.Errorf("s3store: checking bucket %q at %s: %w", c.bucket, cfg.Endpoint, err)
	}
	if !exists {
		if !cfg.CreateBucket {
			return fmt.Errorf("s3store: bucket %q does not exist at %s: %s", c.bucket, cfg.Endpoint, createHint(c.bucket))
		}
		if err := c.mc.MakeBucket(ctx, c.bucket, minio.MakeBucketOptions{Region: cfg.Region, ObjectLocking: true}); err != nil {
			return fmt.Errorf("s3store: creating bucket %q with Object Lock at %s: %w", c.bucket, cfg.Endpoint, err)
		}
	}
	status, _, _, _, err := c.mc.GetObjectLockConfig(ctx, c.bucket)
	if err != nil && minio.ToErrorResponse(err).Code != "ObjectLockConfigurationNotFoundError" {
		return fmt.Errorf("s3store: reading the Object Lock configuration of bucket %q: %w", c.bucket, err)
	}
	if status != "Enabled" {
		return fmt.Errorf("s3store: bucket %q at %s does not have Object Lock enabled, so recordings put into it "+
			"could be deleted or overwritten; use a bucket that has it: %s (on AWS, Object Lock can also be enabled on an "+
			"existing versioned bucket with `aws s3api put-object-lock-configuration --bucket %s --object-lock-configuration "+
			"ObjectLockEnabled=Enabled`)", c.bucket, cfg.Endpoint, createHint(c.bucket), c.bucket)
	}
	return nil
}

// put stores one object with the configured retention. If it mayExist
// (an upload resumed after a crash, or retried after a put that may have
// landed), it first asks, and puts nothing when an object with exactly
// this content is there already: a second version would be the same
// bytes, so the question only saves versions, and is skipped for an
// object this process has never put. The put is retried by the client
// itself on transient errors.
func (c *Client) put(ctx context.Context, key string, data []byte, contentType string, mayExist bool) error {
	if mayExist && c.holds(ctx, key, data) {
		return nil
	}
	_, err := c.mc.PutObject(ctx, c.bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{
		ContentType:     contentType,
		Mode:            c.mode,
		RetainUntilDate: c.now().Add(c.retention).UTC(),
		SendContentMd5:  true,
	})
	if err != nil {
		return fmt.Errorf("s3store: put %s: %w", key, err)
	}
	return nil
}

// holds says whether the bucket has an object key with exactly data.
func (c *Client) holds(ctx context.Context, key string, data []byte) bool {
	info, err := c.mc.StatObject(ctx, c.bucket, key, minio.StatObjectOptions{})
	return err == nil && info.Size == int64(len(data)) && strings.Trim(info.ETag, `"`) == md5Hex(data)
}

// Reading back, for verify: Client implements recorder.VerifySource.

// Lines returns a stream's lines, from its chunks in order. The error wraps
// fs.ErrNotExist when the bucket holds no chunk of it.
func (c *Client) Lines(kind, id string) ([][]byte, error) {
	ctx := context.Background()
	prefix, err := Prefix(kind, id)
	if err != nil {
		return nil, err
	}
	var chunks []string
	for obj := range c.mc.ListObjects(ctx, c.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("s3store: list %s: %w", prefix, obj.Err)
		}
		if chunkNumber(strings.TrimPrefix(obj.Key, prefix)) >= 0 {
			chunks = append(chunks, obj.Key)
		}
	}
	if len(chunks) == 0 {
		return nil, fmt.Errorf("s3store: no %s stream %q in bucket %s: %w", kind, id, c.bucket, fs.ErrNotExist)
	}
	sort.Strings(chunks)
	var lines [][]byte
	for i, key := range chunks {
		if want := prefix + chunkName(i); key != want {
			return nil, fmt.Errorf("s3store: stream %s: chunk %s is missing (found %s)", id, want, key)
		}
		data, err := c.get(ctx, key)
		if err != nil {
			return nil, err
		}
		for len(data) > 0 {
			line, rest, _ := bytes.Cut(data, []byte("\n"))
			lines = append(lines, line)
			data = rest
		}
	}
	return lines, nil
}

// Manifest returns a stream's manifest.json; the error wraps
// fs.ErrNotExist when there is none.
func (c *Client) Manifest(kind, id string) ([]byte, error) {
	key, err := ManifestKey(kind, id)
	if err != nil {
		return nil, err
	}
	return c.get(context.Background(), key)
}

func (c *Client) get(ctx context.Context, key string) ([]byte, error) {
	obj, err := c.mc.GetObject(ctx, c.bucket, key, minio.GetObjectOptions{})
	if err == nil {
		var data []byte
		data, err = io.ReadAll(obj)
		obj.Close()
		if err == nil {
			return data, nil
		}
	}
	if code := minio.ToErrorResponse(err).Code; code == "NoSuchKey" || code == "NoSuchVersion" {
		return nil, fmt.Errorf("s3store: %s: %w", key, fs.ErrNotExist)
	}
	return nil, fmt.Errorf("s3store: get %s: %w", key, err)
}

// List returns the ids of the streams of a kind in the bucket, oldest first.
func (c *Client) List(kind string) ([]string, error) {
	if err := checkName(kind); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var ids []string
	for obj := range c.mc.ListObjects(context.Background(), c.bucket, minio.ListObjectsOptions{Prefix: kind + "/", Recursive: true}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("s3store: list %s: %w", kind, obj.Err)
		}
		if k, id, _, ok := ParseKey(obj.Key); ok && k == kind && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// ErrNotLocked matches (errors.Is) the error of CheckRetention for an
// object without retention, or whose retention has ended.
var ErrNotLocked = errors.New("s3store: object not under retention")

// CheckRetention checks that every object of a stream has a retention mode
// and a retain-until date in the future, and names the first that does not.
func (c *Client) CheckRetention(kind, id string) error {
	ctx := context.Background()
	keys, err := c.Objects(ctx, kind, id)
	if err != nil {
		return err
	}
	now := c.now()
	for _, key := range keys {
		mode, until, err := c.Retention(ctx, key)
		switch {
		case err != nil:
			return err
		case mode == "" || until.IsZero():
			return fmt.Errorf("%w: object %s has no retention (mode and retain-until date): it can be deleted or replaced", ErrNotLocked, key)
		case !until.After(now):
			return fmt.Errorf("%w: the retention of object %s (%s) ended at %s", ErrNotLocked, key, mode, until.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// Objects are the names of every object of a stream (its chunks and its
// manifest, and anything else under its prefix), in order.
func (c *Client) Objects(ctx context.Context, kind, id string) ([]string, error) {
	prefix, err := Prefix(kind, id)
	if err != nil {
		return nil, err
	}
	var keys []string
	for obj := range c.mc.ListObjects(ctx, c.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("s3store: list %s: %w", prefix, obj.Err)
		}
		keys = append(keys, obj.Key)
	}
	sort.Strings(keys)
	return keys, nil
}

// noLock is the S3 error code of an object without the Object Lock
// setting asked for (no retention, or no legal hold).
const noLock = "NoSuchObjectLockConfiguration"

// Retention is an object's Object Lock retention as the bucket says now:
// its mode (GOVERNANCE or COMPLIANCE) and retain-until date; "" and the
// zero time for an object without retention. Any other failure to read
// it is an error, never an unlocked object.
func (c *Client) Retention(ctx context.Context, key string) (mode string, until time.Time, err error) {
	m, u, err := c.mc.GetObjectRetention(ctx, c.bucket, key, "")
	switch {
	case err != nil && minio.ToErrorResponse(err).Code == noLock:
		return "", time.Time{}, nil
	case err != nil:
		return "", time.Time{}, fmt.Errorf("s3store: reading the retention of %s: %w", key, err)
	}
	if m != nil {
		mode = string(*m)
	}
	if u != nil {
		until = *u
	}
	return mode, until, nil
}

// LegalHold says whether an object is under a legal hold (which keeps it
// whatever its retention) as the bucket says now.
func (c *Client) LegalHold(ctx context.Context, key string) (bool, error) {
	status, err := c.mc.GetObjectLegalHold(ctx, c.bucket, key, minio.GetObjectLegalHoldOptions{})
	switch {
	case err != nil && minio.ToErrorResponse(err).Code == noLock:
		return false, nil
	case err != nil:
		return false, fmt.Errorf("s3store: reading the legal hold of %s: %w", key, err)
	}
	return status != nil && *status == minio.LegalHoldEnabled, nil
}
