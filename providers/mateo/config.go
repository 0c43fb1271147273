package mateo

import (
	"fmt"

	"github.com/punctualhq/punctual/providers"
	"github.com/punctualhq/punctual/senders"
)

// Config is Mateo's configuration, as the environment gives it; package
// config reads it through the registry.
type Config struct {
	// BaseURL is Mateo's API.
	BaseURL string `env:"MATEO_BASE_URL" envDefault:"https://integration.getmateo.com/api/v1"`
	// Token is the token of Mateo account "default".
	Token     string `env:"MATEO_TOKEN"`
	TokenFile string `env:"MATEO_TOKEN_FILE,file"`
	// Accounts are more Mateo accounts: name=token,name2=token2.
	Accounts     string `env:"MATEO_ACCOUNTS"`
	AccountsFile string `env:"MATEO_ACCOUNTS_FILE,file"`
}

// variables say what docs/configuration.md says of each variable.
var variables = map[string]string{
	"MATEO_BASE_URL": "Mateo's API; plain `http://` only to a loopback host",
	"MATEO_TOKEN":    "the Mateo token of account `default`",
	"MATEO_ACCOUNTS": "more Mateo accounts: `name=token,name2=token2`",
}

// Validate checks MATEO_BASE_URL.
func (c *Config) Validate() error {
	if _, err := senders.CheckBaseURL(c.BaseURL); err != nil {
		return fmt.Errorf("MATEO_BASE_URL: %w", err)
	}
	return nil
}

// Tokens returns MATEO_TOKEN and MATEO_ACCOUNTS.
func (c *Config) Tokens() (token, list, variable string) {
	return c.Token, c.Accounts, "MATEO_ACCOUNTS"
}

// Transport returns the transport to MATEO_BASE_URL.
func (c *Config) Transport(opts ...senders.Option) (*senders.Transport, error) {
	t, err := NewTransport(c.BaseURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("MATEO_BASE_URL: %w", err)
	}
	return t, nil
}

// Provider returns Mateo as a registry lists it.
func Provider() providers.Provider {
	return providers.Provider{
		Name:       Name,
		Operations: Operations,
		NewConfig:  func() providers.Config { return &Config{} },
		Variables:  variables,
		RateLimit:  "2/s+10000/24h",
	}
}
