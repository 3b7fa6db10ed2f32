package policy

import (
	"strings"
	"testing"
)

const vaultBase = `
data_dir: /tmp/x
targets:
  orders:
    protocol: postgres
    address: db:5432
    roles:
      readonly:
        credentials: {vault: database/creds/orders-ro}
`

func TestVaultConfig(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, wantErr string
	}{
		{"signer with token_env", "ca: {signer: {vault: {address: 'https://vault:8200', token_env: VAULT_TOKEN}}}", ""},
		{"top-level vault for credentials", "vault: {address: 'https://vault:8200', token_file: /run/token}", ""},
		{"approle", "vault: {address: 'https://vault:8200', approle: {role_id_file: /r, secret_id_env: S}}", ""},
		{"no vault for credentials", "", "credentials.vault: no Vault to lease from"},
		{"no token source", "vault: {address: 'https://vault:8200'}", "vault: set exactly one of token_env, token_file and approle"},
		{"two token sources", "vault: {address: 'https://vault:8200', token_env: A, token_file: /b}", "set exactly one"},
		{"approle without secret id", "vault: {address: 'https://vault:8200', approle: {role_id_env: R}}", "vault.approle: set one of secret_id_env and secret_id_file"},
		{"address without scheme", "vault: {address: 'vault:8200', token_env: A}", `vault.address: "vault:8200" is not an http(s)://host:port URL`},
		{"file and vault", "ca: {signer: {file: ca_key, vault: {address: 'https://vault:8200', token_env: A}}}", "ca.signer: set one of file and vault"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(vaultBase + tc.yaml))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestVaultSignerDefaults(t *testing.T) {
	cfg, err := Parse([]byte("data_dir: /x\nca: {signer: {vault: {address: 'https://v:8200', token_env: T}}}"))
	if err != nil {
		t.Fatal(err)
	}
	v := cfg.CA.Signer.Vault
	if v.Mount != "ssh" || v.Role != "gatehouse" || v.HostMount != "ssh" || v.HostRole != "gatehouse-host" || cfg.CA.Signer.File != "" {
		t.Errorf("defaults %+v, file %q", v, cfg.CA.Signer.File)
	}
	if c := cfg.VaultForCredentials(); c == nil || c.Address != "https://v:8200" {
		t.Errorf("credentials use %+v, want the signer's connection", c)
	}
}

func TestVaultWithPassword(t *testing.T) {
	y := strings.Replace(vaultBase, "{vault:", "{password_env: P, vault:", 1) + "vault: {address: 'https://vault:8200', token_env: A}"
	if _, err := Parse([]byte(y)); err == nil || !strings.Contains(err.Error(), "remove password_env and password_file") {
		t.Fatalf("err = %v", err)
	}
}
