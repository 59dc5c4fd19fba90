package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/silo-datasets/silo/client"
)

// silo webhooks: endpoints that receive signed events (CONTRACT "Events:
// signed webhooks").
func newWebhooksCommand() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:     "webhooks",
		Aliases: []string{"webhook", "hooks"},
		Short:   "Create, list and delete webhook endpoints; show their deliveries",
	}
	addClientFlags(cmd, &f)
	cmd.AddCommand(newWebhookCreateCommand(&f), newWebhookListCommand(&f), newWebhookDeleteCommand(&f), newWebhookDeliveriesCommand(&f))
	return cmd
}

func newWebhookCreateCommand(f *clientFlags) *cobra.Command {
	var req client.WebhookRequest
	cmd := &cobra.Command{
		Use:   "create URL [--events TYPE,...]",
		Short: "Create an endpoint; prints its signing secret, shown only this once",
		Long: "Create an endpoint that receives the events committed from now on, as CloudEvents signed per\n" +
			"Standard Webhooks. Event types: dataset.created, dataset.validated, dataset.failed,\n" +
			"dataset.deleted, usage.threshold (default: all). Admin keys may pass --org or --all-orgs.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			req.URL = args[0]
			w, raw, err := c.CreateWebhook(cmd.Context(), req)
			if err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created webhook %s for %s (%s)\nsigning secret (shown only now): %s\n", w.ID, w.URL, eventsText(w.Events), w.Secret)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&req.Events, "events", nil, "event types to receive, comma-separated (default: all)")
	fl.StringVar(&req.Description, "description", "", "what the endpoint is for")
	fl.StringVar(&req.OrgID, "org", "", "admin keys: another organisation's endpoint (its id)")
	fl.BoolVar(&req.AllOrgs, "all-orgs", false, "admin keys: an operator's endpoint for every organisation's events")
	return cmd
}

func eventsText(events []string) string {
	if len(events) == 0 {
		return "all events"
	}
	return strings.Join(events, ", ")
}

func newWebhookListCommand(f *clientFlags) *cobra.Command {
	var org string
	var all bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List your organisation's webhook endpoints",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			ws, raw, err := c.Webhooks(cmd.Context(), org, all)
			if err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			if len(ws) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no webhooks")
				return nil
			}
			tw := table(cmd.OutOrStdout(), "ID", "URL", "EVENTS", "ORG", "CREATED")
			for _, w := range ws {
				scope := "all orgs"
				if w.OrgID != nil {
					scope = *w.OrgID
				}
				row(tw, w.ID, w.URL, eventsText(w.Events), scope, when(w.CreatedAt))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "admin keys: another organisation's endpoints")
	cmd.Flags().BoolVar(&all, "all-orgs", false, "admin keys: every endpoint")
	return cmd
}

func newWebhookDeleteCommand(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Delete an endpoint; its pending deliveries are dropped",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			if err := c.DeleteWebhook(cmd.Context(), args[0]); err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), []byte("{}"))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted webhook %s\n", args[0])
			return nil
		},
	}
}

func newWebhookDeliveriesCommand(f *clientFlags) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "deliveries ID",
		Short: "Show an endpoint's newest deliveries",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			ds, raw, err := c.Deliveries(cmd.Context(), args[0], limit)
			if err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			if len(ds) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no deliveries")
				return nil
			}
			tw := table(cmd.OutOrStdout(), "EVENT", "TYPE", "STATUS", "ATTEMPTS", "LAST", "NEXT", "CREATED")
			for _, d := range ds {
				last := "-"
				if d.LastStatusCode != nil {
					last = strconv.Itoa(*d.LastStatusCode)
				}
				if d.LastError != nil && d.Status != "delivered" {
					last = *d.LastError
				}
				next := "-"
				if d.NextAttemptAt != nil {
					next = when(*d.NextAttemptAt)
				}
				row(tw, d.EventID, d.Type, d.Status, strconv.Itoa(d.Attempts), last, next, when(d.CreatedAt))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "at most this many (1 to 1000)")
	return cmd
}
