package policy

import (
	"fmt"
	"net/url"
)

func (v *VaultSigner) applyDefaults() {
	if v.Mount == "" {
		v.Mount = "ssh"
	}
	if v.Role == "" {
		v.Role = "gatehouse"
	}
	if v.HostMount == "" {
		v.HostMount = v.Mount
	}
	if v.HostRole == "" {
		v.HostRole = "gatehouse-host"
	}
}

func (v *VaultConnection) applyDefaults() {
	if v.AppRole != nil && v.AppRole.Mount == "" {
		v.AppRole.Mount = "approle"
	}
}

// validateVault checks the Vault connections and that every
// credentials.vault has one to use.
func (c *Config) validateVault() []error {
	var errs []error
	if v := c.CA.Signer.Vault; v != nil {
		if c.CA.Signer.File != "" {
			errs = append(errs, fmt.Errorf("ca.signer: set one of file and vault (the CA key lives in one place)"))
		}
		errs = append(errs, v.VaultConnection.validate("ca.signer.vault")...)
	}
	if c.Vault != nil {
		errs = append(errs, c.Vault.validate("vault")...)
	}
	for _, name := range sortedKeys(c.Targets) {
		t := c.Targets[name]
		if t == nil {
			continue
		}
		for _, rn := range sortedKeys(t.Roles) {
			r := t.Roles[rn]
			if r == nil || r.Credentials.Vault == "" {
				continue
			}
			at := fmt.Sprintf("targets.%s.roles.%s.credentials", name, rn)
			if r.Credentials.PasswordEnv != "" || r.Credentials.PasswordFile != "" {
				errs = append(errs, fmt.Errorf("%s: vault leases the user and password; remove password_env and password_file", at))
			}
			if c.VaultForCredentials() == nil {
				errs = append(errs, fmt.Errorf("%s.vault: no Vault to lease from; add a top-level vault: {address, token_env} (or configure ca.signer.vault)", at))
			}
		}
	}
	return errs
}

func (v *VaultConnection) validate(at string) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(at+format, args...)) }
	if u, err := url.Parse(v.Address); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		add(".address: %q is not an http(s)://host:port URL of a Vault server", v.Address)
	}
	sources := 0
	for _, set := range []bool{v.TokenEnv != "", v.TokenFile != "", v.AppRole != nil} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		add(": set exactly one of token_env, token_file and approle (where gatehouse's Vault token comes from)")
	}
	if a := v.AppRole; a != nil {
		if (a.RoleIDEnv == "") == (a.RoleIDFile == "") {
			add(".approle: set one of role_id_env and role_id_file")
		}
		if (a.SecretIDEnv == "") == (a.SecretIDFile == "") {
			add(".approle: set one of secret_id_env and secret_id_file")
		}
	}
	return errs
}
