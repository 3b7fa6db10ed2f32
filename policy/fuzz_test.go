package policy

import "testing"

// FuzzParse: the configuration parser must return an error, never panic,
// and a configuration it accepts must validate again unchanged.
func FuzzParse(f *testing.F) {
	f.Add([]byte(sampleConfig))
	f.Add([]byte("data_dir: /x\nca: {max_ttl: 3d}\n"))
	f.Add([]byte("data_dir: /x\ntargets: {t: {protocol: tcp, address: 'h:1', roles: {r: {}}}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted configuration fails validation: %v", err)
		}
	})
}
