package cli

import (
	"fmt"
	"sort"
	"strings"

	"github.com/cmca/cmca/internal/service"
	"github.com/spf13/cobra"
)

// NewCmdDoctor is `cmca doctor`: a consistency check of the home.
func NewCmdDoctor(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Check the home's consistency; exit 4 if anything is wrong",
		Long: `Check that the home is consistent, changing nothing: file modes, SQLite
integrity, the audit hash chain, that every request's state is where its audit
trail left it, that every certificate has its request and every used passcode
a certificate that can still be fetched, and that no CRL number was used for
two different CRLs. Each problem is printed with the check that found it and,
where one exists, the command that fixes it. Exit 4 if any problem is found.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			svc, err := f.DiagnoseLocal(ctx)
			if err != nil {
				return err
			}
			rep, err := svc.Doctor(ctx)
			if err != nil {
				return err
			}
			if f.JSON() {
				if err := f.PrintJSON(rep); err != nil {
					return err
				}
			} else {
				var counts []string
				for k, v := range rep.Checked {
					counts = append(counts, fmt.Sprintf("%d %s", v, strings.ReplaceAll(k, "_", " ")))
				}
				sort.Strings(counts)
				for _, p := range rep.Problems {
					f.Printf("%s\n", p)
				}
				if rep.OK {
					f.Printf("%s is consistent (checked %s).\n", rep.Home, strings.Join(counts, ", "))
				}
			}
			if !rep.OK {
				return errorf("%s is inconsistent: %w", rep.Home, &service.ProblemsError{N: len(rep.Problems)})
			}
			return nil
		},
	}
}

// NewCmdBackup is `cmca backup --out FILE`.
func NewCmdBackup(f *Factory) *cobra.Command {
	var out string
	var force bool
	cmd := &cobra.Command{
		Use:   "backup --out FILE",
		Short: "Write a consistent copy of the store while cmca keeps running",
		Long: `Write a consistent copy of the store (SQLite VACUUM INTO) to FILE, mode 0600,
while other cmca processes keep working. The copy holds every applicant's
personal data and the pseudonym key: keep it as safe as the home. It does not
hold the CA key (ca/ca.key, or the key on its token): back that up separately.`,
		Example: "  cmca backup --out /backup/cmca-$(date +%F).db",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usagef("--out FILE is required")
			}
			ctx := cmd.Context()
			svc, err := f.ReadLocal(ctx)
			if err != nil {
				return err
			}
			res, err := svc.Backup(ctx, out, force)
			if err != nil {
				return err
			}
			if res.Warning != "" {
				f.Warnf("warning: %s\n", res.Warning)
			}
			if f.JSON() {
				return f.PrintJSON(res)
			}
			f.Printf("Backup written: %s (%d bytes, sha256 %s)\n  %d requests, %d certificates, %d CRLs (last number %d), %d audit records\n",
				res.Path, res.Bytes, res.SHA256, res.Requests, res.Certificates, res.CRLs, res.LastCRLNumber, res.AuditRecords)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "backup file to write")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing --out file")
	return cmd
}

// NewCmdRestore is `cmca restore FILE`.
func NewCmdRestore(f *Factory) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "restore FILE",
		Short: "Put a backup in place as the home's store",
		Long: `Put a backup made by ` + "`cmca backup`" + ` in place as the home's store. Stop every
other cmca process on the home first. The backup must be a sound cmca store
with an intact audit chain, made by this home's CA. An existing store is
replaced only with --force, and is kept as ra.db.pre-restore-TIME.

CRL numbers never go back: numbering continues above the highest CRL number
published under HOME/crl or held by the replaced store. Certificates issued
after the backup was made are listed: they are not in the restored store.`,
		Example: "  cmca restore /backup/cmca-2026-11-25.db --force",
		Args:    needArgs(1, "the backup FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.Config()
			if err != nil {
				return err
			}
			if c.Service.StoreURL != "" {
				return usagef("cmca restore puts back a SQLite store (HOME/ra.db); a PostgreSQL store is restored with pg_restore, then checked with `cmca doctor` (docs/operations.md)")
			}
			res, err := service.Restore(cmd.Context(), service.RestoreOptions{Home: c.Home, File: args[0], Force: force})
			if err != nil {
				return err
			}
			// A checkpoint of the restored log (the replaced one's was kept
			// aside). Without the CA key, say how to sign one later.
			if svc, err := f.Local(cmd.Context()); err != nil {
				f.Warnf("warning: no audit checkpoint signed for the restored store (%v); run `cmca crl --force`\n", err)
			} else if err := svc.SignCheckpoint(cmd.Context()); err != nil {
				f.Warnf("warning: no audit checkpoint signed for the restored store (%v); run `cmca crl --force`\n", err)
			}
			if f.JSON() {
				return f.PrintJSON(res)
			}
			f.Printf("Restored %s from %s\n  %d requests, %d certificates, %d audit records; the next CRL number is %d\n",
				res.Home, res.From, res.Requests, res.Certificates, res.AuditRecords, res.NextCRLNumber)
			if res.Replaced != "" {
				f.Printf("  the previous store is kept as %s\n", res.Replaced)
			}
			if n := len(res.LostCertificates); n > 0 {
				f.Warnf("warning: %d certificates issued after this backup are not in it and cannot be revoked through cmca: %s\n", n, strings.Join(res.LostCertificates, ", "))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing store")
	return cmd
}
