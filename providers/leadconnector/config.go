package leadconnector

import (
	"errors"
	"fmt"

	"github.com/punctualhq/punctual/providers"
	"github.com/punctualhq/punctual/senders"
)

// Config is LeadConnector's configuration, as the environment gives it;
// package config reads it through the registry.
type Config struct {
	// BaseURL is LeadConnector's API.
	BaseURL string `env:"LEADCONNECTOR_BASE_URL" envDefault:"https://services.leadconnectorhq.com"`
	// Version is sent in the Version header.
	Version   string `env:"LEADCONNECTOR_VERSION" envDefault:"2021-04-15"`
	Token     string `env:"LEADCONNECTOR_TOKEN"`
	TokenFile string `env:"LEADCONNECTOR_TOKEN_FILE,file"`
	// Accounts are more LeadConnector accounts: name=token,name2=token2.
	Accounts     string `env:"LEADCONNECTOR_ACCOUNTS"`
	AccountsFile string `env:"LEADCONNECTOR_ACCOUNTS_FILE,file"`
	// ClientID and ClientSecret are the HighLevel app of the OAuth
	// accounts of ACCOUNTS_FILE.
	ClientID         string `env:"LEADCONNECTOR_CLIENT_ID"`
	ClientSecret     string `env:"LEADCONNECTOR_CLIENT_SECRET"`
	ClientSecretFile string `env:"LEADCONNECTOR_CLIENT_SECRET_FILE,file"`
}

// variables say what docs/configuration.md says of each variable.
var variables = map[string]string{
	"LEADCONNECTOR_BASE_URL":      "LeadConnector's API; plain `http://` only to a loopback host",
	"LEADCONNECTOR_VERSION":       "the `Version` header of `POST /conversations/messages` (its only published value); the OAuth endpoints send their own",
	"LEADCONNECTOR_TOKEN":         "the LeadConnector (location) token of account `default`",
	"LEADCONNECTOR_ACCOUNTS":      "more LeadConnector accounts: `name=token,name2=token2`",
	"LEADCONNECTOR_CLIENT_ID":     "the HighLevel marketplace app of the OAuth accounts; set with `LEADCONNECTOR_CLIENT_SECRET`",
	"LEADCONNECTOR_CLIENT_SECRET": "the app's secret; read at start",
}

// Validate checks the version, the base URL, and that the OAuth app is
// given whole or not at all.
func (c *Config) Validate() error {
	var errs []error
	if c.Version == "" {
		errs = append(errs, errors.New("LEADCONNECTOR_VERSION: must not be empty"))
	}
	if _, err := senders.CheckBaseURL(c.BaseURL); err != nil {
		errs = append(errs, fmt.Errorf("LEADCONNECTOR_BASE_URL: %w", err))
	}
	if (c.ClientID == "") != (c.ClientSecret == "") {
		errs = append(errs, errors.New("LEADCONNECTOR_CLIENT_ID and LEADCONNECTOR_CLIENT_SECRET: set both or neither"))
	}
	return errors.Join(errs...)
}

// Tokens returns LEADCONNECTOR_TOKEN and LEADCONNECTOR_ACCOUNTS.
func (c *Config) Tokens() (token, list, variable string) {
	return c.Token, c.Accounts, "LEADCONNECTOR_ACCOUNTS"
}

// Transport returns the transport to LEADCONNECTOR_BASE_URL, sending
// LEADCONNECTOR_VERSION.
func (c *Config) Transport(opts ...senders.Option) (*senders.Transport, error) {
	t, err := NewTransport(c.BaseURL, c.Version, opts...)
	if err != nil {
		return nil, fmt.Errorf("LEADCONNECTOR_BASE_URL: %w", err)
	}
	return t, nil
}

// OAuthApp returns the app that renews the OAuth accounts' tokens, and
// the API that issues them.
func (c *Config) OAuthApp() (clientID, clientSecret, baseURL string) {
	return c.ClientID, c.ClientSecret, c.BaseURL
}

// Provider returns LeadConnector as a registry lists it.
func Provider() providers.Provider {
	return providers.Provider{
		Name:       Name,
		Operations: Operations,
		NewConfig:  func() providers.Config { return &Config{} },
		Variables:  variables,
		RateLimit:  "100/10s+200000/24h",
	}
}
