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
// runs continue it. An account whose credential cannot be renewed makes
// its sends wait (ReauthError) until the file gives it a new one.
package credentials
