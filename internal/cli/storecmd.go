package cli

import (
	"sort"

	"github.com/spf13/cobra"
)

// NewCmdStore is `cmca store`, commands on the store itself.
func NewCmdStore(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Move the store between engines",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newCmdStoreMigrate(f))
	return cmd
}

func newCmdStoreMigrate(f *Factory) *cobra.Command {
	var to string
	cmd := &cobra.Command{
		Use:   "migrate --to postgres://...",
		Short: "Copy the home's SQLite store into an empty PostgreSQL database",
		Long: `Copy the home's SQLite store (HOME/ra.db) into an empty PostgreSQL database,
in one verified pass and one PostgreSQL transaction: the schema is made, every
table copied from one snapshot of ra.db, then the row counts of every table
are compared, the copy's audit chain is verified whole and its next CRL number
compared with the store's. Only then is it committed, with a store-migrate
record at the end of the copy's audit log. A database that is not empty is
refused; a failure leaves it empty, so the command can be run again.

ra.db is only read. Stop every cmca using the home first: what they write
after the snapshot is not copied. Afterwards set store.url (CMCA_STORE_URL,
--store-url) to the database on every cmca, and keep ra.db as the backup it
now is. Needs the admin role.`,
		Example: "  cmca store migrate --to 'postgres://cmca:SECRET@db.example.org/cmca?sslmode=verify-full'",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return usagef("--to postgres://... is required: the empty database to copy the store into")
			}
			c, err := f.Config()
			if err != nil {
				return err
			}
			if c.Service.StoreURL != "" {
				return usagef("store.url is set: the store is already in PostgreSQL; store migrate copies the home's SQLite store (unset CMCA_STORE_URL / store.url)")
			}
			ctx := cmd.Context()
			svc, err := f.ReadLocal(ctx)
			if err != nil {
				return err
			}
			res, err := svc.MigrateStore(ctx, to)
			if err != nil {
				return err
			}
			if f.JSON() {
				return f.PrintJSON(res)
			}
			f.Printf("Copied the store to %s (schema version %d), verified:\n", res.To, res.SchemaVersion)
			tables := make([]string, 0, len(res.Rows))
			for t := range res.Rows {
				tables = append(tables, t)
			}
			sort.Strings(tables)
			for _, t := range tables {
				f.Printf("  %-16s %d rows\n", t, res.Rows[t])
			}
			f.Printf("  audit chain intact (%d records); the next CRL number is %d\nSet store.url (CMCA_STORE_URL) to it on every cmca.\n", res.AuditRecords, res.NextCRLNumber)
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the empty PostgreSQL database, postgres://USER:PASSWORD@HOST:PORT/DB")
	return cmd
}
