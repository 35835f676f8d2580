package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"

	"github.com/cmca/cmca/internal/client"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/spf13/cobra"
)

// bulkAPI is what the batch paths need beyond API: one transaction for a
// whole batch. *service.Service implements it.
type bulkAPI interface {
	ApproveMany(ctx context.Context, refs []string, allSubmitted bool) ([]*service.Decision, []service.RefError, error)
	IssueMany(ctx context.Context, refs []string, allApproved, resend bool) ([]*service.Authorisation, []service.RefError, error)
	DownloadMany(ctx context.Context, ins []service.DownloadInput) ([]service.DownloadOutcome, error)
}

var (
	_ bulkAPI = (*service.Service)(nil)
	_ bulkAPI = (*client.Client)(nil)
)

func bulk(ctx context.Context, f *Factory) (bulkAPI, error) {
	api, err := f.API(ctx)
	if err != nil {
		return nil, err
	}
	b, ok := api.(bulkAPI)
	if !ok {
		return nil, errorf("this RA does not support batch operations")
	}
	return b, nil
}

// batchErr sums up the failed items of a batch; its exit code is the first
// failure's.
func batchErr(failed []service.RefError, total int) error {
	switch len(failed) {
	case 0:
		return nil
	case 1:
		return failed[0].Err
	}
	return errorf("%d of %d requests failed; first: %w", len(failed), total, failed[0].Err)
}

// approveManyRun approves several requests (or every submitted one) in one
// transaction; each still succeeds or fails on its own.
func approveManyRun(ctx context.Context, o *ApproveOptions) error {
	f := o.F
	api, err := bulk(ctx, f)
	if err != nil {
		return err
	}
	var bar *progress // output.go: a progress line on a terminal, for big batches
	pctx := service.WithProgress(ctx, func(n, total int) {
		if bar == nil {
			bar = f.newProgress("approving", total)
		}
		bar.set(n)
	})
	done, failed, err := api.ApproveMany(pctx, o.Refs, o.AllSubmitted)
	bar.done()
	if err != nil {
		return err
	}
	if f.JSON() {
		out := make([]any, 0, len(done)+len(failed))
		for _, d := range done {
			out = append(out, d)
		}
		for _, e := range failed {
			out = append(out, map[string]any{"ref": e.Ref, "error": e.Err.Error(), "exit_code": ExitCode(e.Err)})
		}
		if err := f.PrintJSON(out); err != nil {
			return err
		}
	} else {
		w := bufio.NewWriter(f.IO.Out)
		revoked := 0
		for _, d := range done {
			if f.Quiet() {
				fmt.Fprintf(w, "%s\n", d.Ref)
				continue
			}
			fmt.Fprintf(w, "%s (%s): %s", d.Ref, d.Kind, d.State)
			if d.RevokedSerial != "" {
				fmt.Fprintf(w, "; certificate %s revoked", d.RevokedSerial)
				revoked++
			}
			fmt.Fprintln(w)
		}
		if revoked > 0 {
			fmt.Fprintf(w, "Publish the %d revocation(s): `cmca crl` signs a new CRL; relying parties see it once they fetch it.\n", revoked)
		}
		if err := w.Flush(); err != nil {
			return err
		}
		for _, e := range failed {
			f.Warnf("%s: %v\n", e.Ref, e.Err)
		}
		if o.AllSubmitted && len(done)+len(failed) == 0 && !f.Quiet() {
			f.Printf("No requests waiting for review.\n")
		}
	}
	return batchErr(failed, len(done)+len(failed))
}

// issueManyRun authorises several requests (or every approved one) in one
// transaction and prints each passcode once: `-q` gives "REF PASSCODE"
// lines, `-o json` an array of authorisations.
func issueManyRun(ctx context.Context, o *IssueOptions) error {
	f := o.F
	api, err := bulk(ctx, f)
	if err != nil {
		return err
	}
	done, failed, err := api.IssueMany(ctx, o.Refs, o.AllApproved, o.Resend)
	if err != nil {
		return err
	}
	for _, e := range failed {
		f.Warnf("%s: %v\n", e.Ref, e.Err)
	}
	switch {
	case f.JSON():
		if done == nil {
			done = []*service.Authorisation{}
		}
		if err := f.PrintJSON(done); err != nil {
			return err
		}
	default:
		w := bufio.NewWriter(f.IO.Out)
		for _, a := range done {
			if f.Quiet() {
				fmt.Fprintf(w, "%s %s\n", a.Ref, a.Passcode)
			} else {
				fmt.Fprintf(w, "Request %s authorised for download.\n  passcode (下载授权码): %s\n  expires:             %s\n", a.Ref, a.Passcode, a.Expires.Local().Format("2006-01-02 15:04:05"))
			}
		}
		if !f.Quiet() && len(done) > 0 {
			fmt.Fprintf(w, "These passcodes are shown once; give each to its applicant by a secure channel.\n")
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	return batchErr(failed, len(done)+len(failed))
}

// DownloadBatchOptions are the inputs of `cmca download-batch`.
type DownloadBatchOptions struct {
	F      *Factory
	From   string
	OutDir string
	Force  bool
}

// batchItem is one line of a download batch file.
type batchItem struct {
	Ref      string `json:"ref"`
	Passcode string `json:"passcode"`
	CSR      string `json:"csr"` // path to a PEM or DER CSR, relative to the batch file
}

// batchResult is one line of download-batch's JSON output.
type batchResult struct {
	Ref      string `json:"ref"`
	Serial   string `json:"serial,omitempty"`
	Location string `json:"location,omitempty"`
	// Certificate is the PEM certificate then its CA chain, when no
	// --out-dir was given (-o json only).
	Certificate string `json:"certificate,omitempty"`
	Error       string `json:"error,omitempty"`
	ExitCode    int    `json:"exit_code,omitempty"`
}

func NewCmdDownloadBatch(f *Factory, runF func(*DownloadBatchOptions) error) *cobra.Command {
	o := &DownloadBatchOptions{F: f}
	cmd := &cobra.Command{
		Use:   "download-batch --from FILE (--out-dir DIR | -o json)",
		Short: "Collect many certificates from CSRs in one run (批量下载)",
		Long: `Collect the certificates of many issued requests at once, for an acceptance
point that enrols a whole organisation whose members generated their keys
with their own tooling. FILE holds one JSON object per line:

  {"ref": "20261125-7KQ3PZ4M", "passcode": "ABCD-EFGH-...", "csr": "alice.csr"}

csr is a PEM or DER certificate request (a path relative to FILE). Each
passcode is checked and consumed exactly as by ` + "`cmca download`" + `, and a wrong
one counts against its request. The certificates are written to
DIR/REF.crt (PEM, the certificate then its CA chain). All items are
recorded in one transaction; an item that fails changes nothing and the
others go on. With -o json, one result object per line; without
--out-dir, each object carries its certificate and chain as PEM
("certificate"), so a pipeline gets every certificate from one stream.`,
		Example: `  cmca download-batch --from batch.jsonl --out-dir certs -o json
  cmca download-batch --from batch.jsonl -o json > issued.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.From == "" || (o.OutDir == "" && !f.JSON()) {
				return usagef("download-batch needs --from FILE, and --out-dir DIR for the certificates (or -o json to receive them in the output)")
			}
			if runF != nil {
				return runF(o)
			}
			return downloadBatchRun(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.From, "from", "", "JSON lines file: ref, passcode, csr per line (- for stdin)")
	cmd.Flags().StringVar(&o.OutDir, "out-dir", "", "directory for the certificates (REF.crt); with -o json it may be left out")
	cmd.Flags().BoolVar(&o.Force, "force", false, "overwrite existing REF.crt files")
	return cmd
}

// refPattern is compiled on first use, not at start-up: compiling it (the
// {1,40} unrolls into 40 states) cost every cmca process ~37 KB and ~90 µs.
var refPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9-]{1,40}$`) })

// Limits of download-batch input: a CSR file (a 16384-bit RSA CSR with
// extensions is under 8 KiB) and the batch file itself.
const (
	maxCSRFile   = 64 << 10
	maxBatchFile = 256 << 20
)

// readBatch reads a batch file (or stdin). Each item's CSR is a regular
// file inside the batch file's directory (a relative path that stays
// there, symbolic links included), at most maxCSRFile bytes, PEM or DER.
// Errors name the line and the path, never the content of a file.
func readBatch(path string, in *IOStreams) ([]service.DownloadInput, error) {
	var r io.Reader
	dir := "."
	if path == "-" {
		r = in.In
	} else {
		f, err := openRegular(nil, path, maxBatchFile)
		if err != nil {
			return nil, &ra.FieldError{Field: "from", Msg: err.Error()}
		}
		defer f.Close()
		r, dir = f, filepath.Dir(path)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, errorf("open %s: %w", dir, err)
	}
	defer root.Close()
	var out []service.DownloadInput
	sc := bufio.NewScanner(io.LimitReader(r, maxBatchFile+1))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	read := int64(0)
	for line := 1; sc.Scan(); line++ {
		if read += int64(len(sc.Bytes())) + 1; read > maxBatchFile {
			return nil, ra.Fieldf("from", "%s is larger than %d MiB; split the batch", path, maxBatchFile>>20)
		}
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var it batchItem
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&it); err != nil {
			return nil, ra.Fieldf("from", "%s line %d: %v", path, line, err)
		}
		if !refPattern().MatchString(it.Ref) || it.Passcode == "" || it.CSR == "" {
			return nil, ra.Fieldf("from", "%s line %d: ref, passcode and csr are all required", path, line)
		}
		csr, err := readBatchCSR(root, it.CSR)
		if err != nil {
			return nil, ra.Fieldf("from", "%s line %d: csr %q: %v", path, line, it.CSR, err)
		}
		out = append(out, service.DownloadInput{Ref: it.Ref, Passcode: it.Passcode, CSR: csr})
	}
	if err := sc.Err(); err != nil {
		return nil, ra.Fieldf("from", "read %s: %v", path, err)
	}
	if len(out) == 0 {
		return nil, &ra.FieldError{Field: "from", Msg: path + " holds no item"}
	}
	return out, nil
}

// readBatchCSR reads one CSR named in a batch line, inside root.
func readBatchCSR(root *os.Root, name string) ([]byte, error) {
	if !filepath.IsLocal(name) {
		return nil, errors.New("must be a relative path inside the batch file's directory")
	}
	f, err := openRegular(root, name, maxCSRFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCSRFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxCSRFile {
		return nil, errorf("larger than %d KiB; not a certificate request", maxCSRFile>>10)
	}
	if blk, _ := pem.Decode(data); blk != nil {
		if blk.Type != "CERTIFICATE REQUEST" && blk.Type != "NEW CERTIFICATE REQUEST" {
			return nil, errorf("holds a PEM %s, not a CERTIFICATE REQUEST", sanitize(blk.Type))
		}
		data = blk.Bytes
	}
	if _, err := x509.ParseCertificateRequest(data); err != nil {
		return nil, errors.New("is not a PEM or DER certificate request")
	}
	return data, nil
}

// openRegular opens name (inside root, unless root is nil) for reading if
// it is a regular file of at most max bytes: not a device (/dev/zero), a
// FIFO or a directory.
func openRegular(root *os.Root, name string, max int64) (*os.File, error) {
	var f *os.File
	var err error
	if root != nil {
		f, err = root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	} else {
		f, err = os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, errorf("cannot open %s: %w", name, pe.Err)
		}
		return nil, err
	}
	fi, err := f.Stat()
	switch {
	case err != nil:
		f.Close()
		return nil, err
	case !fi.Mode().IsRegular():
		f.Close()
		return nil, errorf("%s is not a regular file", name)
	case fi.Size() > max:
		f.Close()
		return nil, errorf("%s is larger than %d KiB", name, max>>10)
	}
	return f, nil
}

func downloadBatchRun(ctx context.Context, o *DownloadBatchOptions) error {
	f := o.F
	ins, err := readBatch(o.From, f.IO)
	if err != nil {
		return err
	}
	if o.OutDir != "" {
		if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
			return errorf("create %s: %w", o.OutDir, err)
		}
	}
	if !o.Force && o.OutDir != "" {
		for _, in := range ins {
			p := filepath.Join(o.OutDir, in.Ref+".crt")
			if _, err := os.Stat(p); err == nil {
				return errorf("%s already exists; choose another --out-dir or pass --force: %w", p, ra.ErrConflict)
			}
		}
	}
	api, err := bulk(ctx, f)
	if err != nil {
		return err
	}
	outs, err := api.DownloadMany(ctx, ins)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f.IO.Out)
	enc := json.NewEncoder(w)
	var failed []service.RefError
	var buf bytes.Buffer
	for _, out := range outs {
		res := batchResult{Ref: out.Ref}
		if out.Err == nil {
			buf.Reset()
			_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: out.Issued.Certificate})
			for _, c := range out.Issued.Chain {
				_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c})
			}
			res.Serial = out.Issued.Serial
			if o.OutDir == "" {
				res.Certificate = buf.String()
			} else {
				res.Location = filepath.Join(o.OutDir, out.Ref+".crt") // Ref matches refPattern
				// The certificate is recorded; a failed write is retried
				// by running the batch again (the same key retrieves it).
				if err := service.WritePublicFile(res.Location, buf.Bytes()); err != nil {
					out.Err = errorf("the certificate was issued but could not be written (run the batch again to retrieve it): %w", err)
				}
			}
		}
		if out.Err != nil {
			failed = append(failed, service.RefError{Ref: out.Ref, Err: out.Err})
			res = batchResult{Ref: out.Ref, Error: out.Err.Error(), ExitCode: ExitCode(out.Err)}
		}
		switch {
		case f.JSON():
			_ = enc.Encode(res)
		case res.Error != "":
			f.Warnf("%s: %s\n", res.Ref, res.Error)
		case f.Quiet():
			fmt.Fprintf(w, "%s %s\n", res.Ref, res.Serial)
		default:
			fmt.Fprintf(w, "%s: certificate %s written to %s\n", res.Ref, res.Serial, res.Location)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return batchErr(failed, len(outs))
}
