// Package credentials holds the accounts a worker sends as, and their
// credentials: static tokens from the environment and from ACCOUNTS_FILE,
// HighLevel OAuth accounts and the locations an agency account mints
// tokens for.
//
// The file is parsed whole (ParseFile) and put in force atomically
// (Manager.Reload, Manager.Watch): a bad file changes nothing. An OAuth
// access token is renewed ahead of its expiry and when the provider
// refuses it (Manager.Refused); one process at a time redeems an account's
// single-use refresh token, under a lock in Redis, and keeps the chain
// there sealed with AES-256-GCM (Keys), so that other replicas and later
// runs continue it; a renewed token Redis fails to keep stays in memory,
// is the one redeemed next, and is stored as soon as Redis answers. An
// account whose credential the OAuth server refuses, naming the grant,
// makes its sends wait (ReauthError) until the file gives it a new one; a
// refusal of the app itself (AppRefusedError), or one that cannot tell,
// makes them wait with every chain kept. An agency account mints its
// locations' tokens and sends nothing: HighLevel takes messages with
// Sub-Account tokens only.
package credentials
