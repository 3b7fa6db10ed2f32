package policy

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// TrustedKey is one entry of recording.trusted_keys: the public half of
// a recorder key rotated out, trusted to verify what it signed, never to
// sign. An entry is either a string (the key) or a mapping with key and
// not_after.
type TrustedKey struct {
	// Key is an authorized_keys line ("ssh-ed25519 AAAA…"), or a file
	// holding one or the JSON of GET /v1/recorder-keys (relative to
	// data_dir). cmd/gatehouse reads and parses it at start, and refuses
	// to start naming the entry when it cannot.
	Key string `yaml:"key"`
	// NotAfter, when set, is when the key was rotated out: a recording
	// that the key signed covering events after it fails verification.
	// nil: no limit.
	NotAfter *time.Time `yaml:"not_after"`
}

// UnmarshalYAML takes a plain string as the key, or a mapping with key
// and not_after (and nothing else: unknown fields are refused, as
// everywhere in the configuration).
func (k *TrustedKey) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		k.Key = n.Value
		return nil
	case yaml.MappingNode:
	default:
		return fmt.Errorf("line %d: a trusted key is a public key (or a file holding one), or {key: ..., not_after: ...}", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		name, value := n.Content[i], n.Content[i+1]
		switch name.Value {
		case "key":
			k.Key = value.Value
		case "not_after":
			var t time.Time
			if err := value.Decode(&t); err != nil {
				return fmt.Errorf("line %d: not_after: %q is not a time (want RFC 3339, 2026-04-01T00:00:00Z, or a date)", value.Line, value.Value)
			}
			k.NotAfter = &t
		default:
			return fmt.Errorf("line %d: field %s not found in a trusted key (key, not_after)", name.Line, name.Value)
		}
	}
	return nil
}

// IsInline says whether Key is the key itself rather than a file.
func (k TrustedKey) IsInline() bool {
	v := strings.TrimSpace(k.Key)
	return strings.HasPrefix(v, "ssh-") || strings.HasPrefix(v, "{")
}

func (r RecordingConfig) validateTrustedKeys() []error {
	var errs []error
	for i, k := range r.TrustedKeys {
		if strings.TrimSpace(k.Key) == "" {
			errs = append(errs, fmt.Errorf("recording.trusted_keys[%d]: no key: give an authorized_keys line or a file holding one", i))
		}
	}
	return errs
}
