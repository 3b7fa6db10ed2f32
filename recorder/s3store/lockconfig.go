package s3store

import (
	"context"
	"fmt"

	"github.com/minio/minio-go/v7"
)

// LockConfig is a bucket's Object Lock configuration as S3 reports it:
// Status "Enabled" when Object Lock is on, and the default retention
// applied to objects put without one (Mode empty when there is none).
type LockConfig struct {
	Status   string `json:"status"`
	Mode     string `json:"default_mode"`
	Validity uint   `json:"default_validity"`
	Unit     string `json:"default_unit"` // DAYS or YEARS
}

// LockConfig reads the bucket's Object Lock configuration now; a bucket
// without one reads as Status "" rather than an error.
func (c *Client) LockConfig(ctx context.Context) (LockConfig, error) {
	status, mode, validity, unit, err := c.mc.GetObjectLockConfig(ctx, c.bucket)
	switch {
	case err != nil && minio.ToErrorResponse(err).Code == "ObjectLockConfigurationNotFoundError":
		return LockConfig{}, nil
	case err != nil:
		return LockConfig{}, fmt.Errorf("s3store: reading the Object Lock configuration of %s: %w", c.bucket, err)
	}
	lc := LockConfig{Status: status}
	if mode != nil {
		lc.Mode = string(*mode)
	}
	if validity != nil {
		lc.Validity = *validity
	}
	if unit != nil {
		lc.Unit = string(*unit)
	}
	return lc, nil
}
