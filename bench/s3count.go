package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// s3Counter sits between gatehouse and MinIO and counts what gatehouse
// asks of the store, by kind of request, with the bytes it sends: how
// often the uploader puts a chunk and how big, which MinIO's own metrics
// do not say per request. It passes every request on unchanged (the Host
// header too: it is part of the SigV4 signature).
type s3Counter struct {
	mu     sync.Mutex
	counts s3Counts
}

// s3Counts are requests and bytes sent, by kind (s3Kind).
type s3Counts map[string]s3Op

type s3Op struct{ requests, bytes int64 }

// startS3Counter listens on 127.0.0.1 and proxies to target; the returned
// endpoint replaces target's in gatehouse's configuration.
func startS3Counter(target string, done *cleanups) (*s3Counter, string, error) {
	to, err := url.Parse(target)
	if err != nil {
		return nil, "", fmt.Errorf("s3 counter: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", fmt.Errorf("s3 counter: %w", err)
	}
	c := &s3Counter{counts: s3Counts{}}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(to)
		r.Out.Host = r.In.Host
	}}
	srv := &http.Server{Handler: c.wrap(proxy), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	done.add(func() { srv.Close() })
	return c, "http://" + ln.Addr().String(), nil
}

func (c *s3Counter) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.count(r)
		next.ServeHTTP(w, r)
	})
}

func (c *s3Counter) count(r *http.Request) {
	kind := s3Kind(r)
	c.mu.Lock()
	defer c.mu.Unlock()
	op := c.counts[kind]
	op.requests++
	op.bytes += max(r.ContentLength, 0)
	c.counts[kind] = op
}

// snapshot is a copy of the counts so far (nil c: none).
func (c *s3Counter) snapshot() s3Counts {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(s3Counts, len(c.counts))
	for k, v := range c.counts {
		out[k] = v
	}
	return out
}

// since is what was counted after before.
func (s s3Counts) since(before s3Counts) s3Counts {
	if s == nil {
		return nil
	}
	out := s3Counts{}
	for k, v := range s {
		b := before[k]
		if d := (s3Op{v.requests - b.requests, v.bytes - b.bytes}); d.requests > 0 {
			out[k] = d
		}
	}
	return out
}

// s3Kind names a request as the S3 API does (path style: /bucket/key).
func s3Kind(r *http.Request) string {
	q := r.URL.Query()
	object := strings.Count(strings.Trim(r.URL.Path, "/"), "/") > 0
	for _, sub := range []string{"retention", "legal-hold", "object-lock", "uploads", "versioning", "location"} {
		if q.Has(sub) {
			return strings.ToLower(r.Method) + " ?" + sub
		}
	}
	switch {
	case r.Method == http.MethodPut && q.Has("partNumber"):
		return "PUT part"
	case r.Method == http.MethodPut && object:
		return "PUT object"
	case r.Method == http.MethodHead && object:
		return "HEAD object"
	case r.Method == http.MethodGet && object:
		return "GET object"
	case r.Method == http.MethodGet:
		return "list"
	}
	return r.Method + " bucket"
}

// perSecond says the counts as rates over d, largest first, e.g.
// "PUT object 3.1/s (avg 512 KiB), HEAD object 3.1/s".
func (s s3Counts) perSecond(d time.Duration) string {
	kinds := make([]string, 0, len(s))
	for k := range s {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool {
		if a, b := s[kinds[i]].requests, s[kinds[j]].requests; a != b {
			return a > b
		}
		return kinds[i] < kinds[j]
	})
	parts := make([]string, 0, len(kinds))
	for _, k := range kinds {
		op := s[k]
		part := fmt.Sprintf("%s %.1f/s", k, float64(op.requests)/d.Seconds())
		if op.bytes > 0 {
			part += fmt.Sprintf(" (avg %.0f KiB)", float64(op.bytes)/float64(op.requests)/1024)
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		return "no request"
	}
	return strings.Join(parts, ", ")
}
