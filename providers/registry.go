package providers

import (
	"errors"
	"fmt"
	"strings"

	"github.com/punctualhq/punctual/senders"
)

// Provider is everything that differs between providers, declared in the
// provider's folder: its operations, its environment variables and how
// they become its transport and accounts, its published rate limit. A
// program lists the providers it knows in a Registry and hands that to
// the configuration, the producer and the worker.
type Provider struct {
	// Name is the provider's name: the part of its task types before the
	// colon, its queue, and its scope in RATE_LIMITS and accounts.
	Name string
	// Operations are the provider's task types.
	Operations []Operation
	// NewConfig returns the provider's configuration, not yet read: a
	// pointer to a struct whose fields caarlos0/env reads (env and
	// envDefault tags; a secret X has an X_FILE form tagged "X_FILE,file").
	// Nil for a provider that reads no variable.
	NewConfig func() Config
	// Variables says what each variable of the configuration means (its
	// _FILE form aside), by name, for docs/configuration.md; a variable
	// without one fails the page's test, so none goes undocumented.
	Variables map[string]string
	// RateLimit is the provider's published limit, N/period+N/period: its
	// part of RATE_LIMITS's default. "" for none.
	RateLimit string
}

// Config is a provider's configuration, read from the environment.
type Config interface {
	// Validate checks the values read; each error names its variable.
	Validate() error
	// Tokens returns the token of account "default", the name=token list
	// of more accounts, and the variable the list is read from, which the
	// list's errors name.
	Tokens() (token, list, variable string)
	// Transport builds the transport the provider's sends go through;
	// its errors name the variable at fault.
	Transport(opts ...senders.Option) (*senders.Transport, error)
}

// OAuthApp is a Config that holds the OAuth app of the accounts file's
// OAuth accounts (LeadConnector's): credentials renews their tokens with it.
type OAuthApp interface {
	Config
	// OAuthApp returns the app's client id and secret, empty when not
	// configured, and the API that issues the tokens.
	OAuthApp() (clientID, clientSecret, baseURL string)
}

// Registry lists the providers a program knows, in the order that lists
// of them (errors, metrics, defaults) follow.
type Registry []Provider

// Check reports the mistakes that would otherwise surface only when the
// first task of a type comes: a provider without a name or given twice, a
// type not of the form provider:action with the provider's name, given
// twice, or without a schema or a send.
func (r Registry) Check() error {
	var errs []error
	names := map[string]bool{}
	types := map[string]bool{}
	for _, p := range r {
		if p.Name == "" || strings.Contains(p.Name, ":") || names[p.Name] {
			errs = append(errs, fmt.Errorf("providers: provider %q: no name, a colon in it, or given twice", p.Name))
		}
		names[p.Name] = true
		for _, op := range p.Operations {
			prov, action, ok := strings.Cut(op.Type, ":")
			switch {
			case !ok || prov != p.Name || action == "":
				errs = append(errs, fmt.Errorf("providers: type %q is not %s:action", op.Type, p.Name))
			case types[op.Type]:
				errs = append(errs, fmt.Errorf("providers: type %q given twice", op.Type))
			case op.Schema == nil || op.Send == nil:
				errs = append(errs, fmt.Errorf("providers: type %q has no schema or no send", op.Type))
			}
			types[op.Type] = true
		}
	}
	return errors.Join(errs...)
}

// Lookup returns the operation of a task type; nil when no provider of r
// has it.
func (r Registry) Lookup(typ string) *Operation {
	for i := range r {
		for j := range r[i].Operations {
			if r[i].Operations[j].Type == typ {
				return &r[i].Operations[j]
			}
		}
	}
	return nil
}

// Provider returns the provider named name; nil when r has none.
func (r Registry) Provider(name string) *Provider {
	for i := range r {
		if r[i].Name == name {
			return &r[i]
		}
	}
	return nil
}

// Names lists the providers' names, in r's order.
func (r Registry) Names() []string {
	names := make([]string, 0, len(r))
	for _, p := range r {
		names = append(names, p.Name)
	}
	return names
}

// Types lists the task types of every provider, in r's order.
func (r Registry) Types() []string {
	var types []string
	for _, p := range r {
		for _, op := range p.Operations {
			types = append(types, op.Type)
		}
	}
	return types
}
