package main

import (
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/punctualhq/punctual/config"
	"github.com/punctualhq/punctual/credentials"
)

func accountsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "accounts",
		Short: "List the workers' accounts: provider, credential kind and state, never a secret",
		Long: `List the accounts the workers last loaded, with the kind of their credential
(token, oauth, agency, agency_location), its state and when the access token
kept in Redis expires, and how many of its sends wait for its credential.
States: ok; refreshing; reauth_needed (its sends wait until ACCOUNTS_FILE gives
it a new credential); app_refused (the OAuth server refuses the app:
LEADCONNECTOR_CLIENT_ID or _SECRET); renewal_refused (a renewal was refused
without naming the grant: the chain is kept and tried again); missing (sends
name it, and no worker has loaded it).`,
		Example: `  enqueue accounts`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load()
			if err != nil {
				return err
			}
			conn, err := cfg.RedisConnOpt()
			if err != nil {
				return err
			}
			rdb, ok := conn.MakeRedisClient().(redis.UniversalClient)
			if !ok {
				return errors.New("unexpected Redis client")
			}
			defer rdb.Close()
			list, err := credentials.List(cmd.Context(), rdb)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "PROVIDER\tACCOUNT\tKIND\tSTATE\tTOKEN EXPIRES\tSENDS WAITING\tREASON")
			for _, a := range list {
				expires := "-"
				if !a.Expires.IsZero() {
					expires = a.Expires.UTC().Format(time.RFC3339)
				}
				reason := a.Reason
				if reason == "" {
					reason = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", a.Provider, a.Name, a.Kind, a.State, expires, a.Waiting, reason)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(list) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "no accounts: no worker has loaded any on this Redis in the last week")
			}
			return nil
		},
	}
}
