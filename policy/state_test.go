package policy

import (
	"strings"
	"testing"
)

// TestStateConfig: state.store defaults to file, takes postgres, refuses
// anything else naming the field; dsn_env has its default and the DSN is
// read from the environment only.
func TestStateConfig(t *testing.T) {
	cases := []struct {
		name, yaml, wantStore, wantEnv, wantErr string
	}{
		{"default", "", "file", DefaultStateDSNEnv, ""},
		{"postgres", "state: {store: postgres, dsn_env: MY_DSN}\n", "postgres", "MY_DSN", ""},
		{"unknown store", "state: {store: etcd}\n", "", "", `state.store: "etcd"`},
		{"a dsn in the file", "state: {store: postgres, dsn: postgres://x}\n", "", "", "dsn"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse([]byte("data_dir: /tmp/x\n" + c.yaml))
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want one naming %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.State.Store != c.wantStore || cfg.State.DSNEnv != c.wantEnv {
				t.Fatalf("state %+v", cfg.State)
			}
		})
	}
	s := StateConfig{Store: "postgres", DSNEnv: "GATEHOUSE_TEST_STATE_DSN"}
	t.Setenv("GATEHOUSE_TEST_STATE_DSN", "")
	if _, err := s.StateDSN(); err == nil || !strings.Contains(err.Error(), "GATEHOUSE_TEST_STATE_DSN") {
		t.Fatalf("an unset variable: %v", err)
	}
	t.Setenv("GATEHOUSE_TEST_STATE_DSN", "postgres://db/state")
	if dsn, err := s.StateDSN(); err != nil || dsn != "postgres://db/state" {
		t.Fatalf("dsn %q %v", dsn, err)
	}
}
