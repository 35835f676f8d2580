package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/cmca/cmca/internal/atomicfile"
	"github.com/cmca/cmca/internal/enroll"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/token"
	"github.com/spf13/cobra"
)

// DownloadOptions are the inputs of `cmca download`: its flags and the
// NewCmdDownload; tests pass fakes).
type DownloadOptions struct {
	IO        printer
	API       func(context.Context) (downloadAPI, error)
	Secret    func(secret) ([]byte, error)
	OpenToken func(context.Context, *tokenFlags) (*token.Session, error)

	Ref          string
	Passcode     string
	PasscodeFile string
	Storage      string
	KeyAlgo      string
	Out          string
	PasswordFile string
	Force        bool
	Token        tokenFlags
	WithCA       bool
}

// downloadAPI is what download needs from the RA/CA.
type downloadAPI interface {
	enroll.API
	Status(ctx context.Context, ref string) (*service.RequestDetail, error)
}

// printer is where a command's results go: *Factory (human text, -q or
// -o json on its I/O streams).
type printer interface {
	JSON() bool
	Quiet() bool
	PrintJSON(v any) error
	Printf(format string, a ...any)
	Warnf(format string, a ...any)
	T(s string) string
}

// newDownloadOptions fills the dependencies of download from f.
func newDownloadOptions(f *Factory) *DownloadOptions {
	return &DownloadOptions{
		IO:        f,
		API:       func(ctx context.Context) (downloadAPI, error) { return f.API(ctx) },
		Secret:    f.readSecret,
		OpenToken: func(ctx context.Context, t *tokenFlags) (*token.Session, error) { return f.openToken(ctx, t, true) },
	}
}

func NewCmdDownload(f *Factory, runF func(*DownloadOptions) error) *cobra.Command {
	o := newDownloadOptions(f)
	cmd := &cobra.Command{
		Use:   "download --ref REF --passcode CODE",
		Short: "Download the certificate with the passcode (证书下载)",
		Long: `Collect an issued certificate. The key pair is generated where it will live —
on the USB key token (--storage usbkey) or in a new PKCS#12 file protected by a
password (--storage soft) — and only a certificate request leaves it. The CA
signs it with the data of the approved application and the certificate is
written back next to the key.

The passcode (下载授权码) works once. If a download is interrupted after the
CA signed (crash, pulled token), run the same command again: the key is found
again and the recorded certificate is delivered.`,
		Example: `  cmca download --ref 20261125-7KQ3PZ4M --passcode-file code.txt --out me.p12 --password-file pw.txt
  cmca download --ref 20261125-7KQ3PZ4M --storage usbkey --token-label "My Key" --pin-file pin.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(o)
			}
			return downloadRun(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Ref, "ref", "", "reference number (业务受理号) of the request")
	fl.StringVar(&o.Passcode, "passcode", "", "download passcode (下载授权码); prefer --passcode-file")
	fl.StringVar(&o.PasscodeFile, "passcode-file", "", "read the passcode from FILE (- for stdin; env CMCA_PASSCODE)")
	fl.StringVar(&o.Storage, "storage", "", "usbkey or soft (default: as in the application)")
	fl.StringVar(&o.KeyAlgo, "key-algo", string(token.ECDSAP256), fmt.Sprintf("key algorithm: %v", token.KeyAlgos))
	fl.StringVar(&o.Out, "out", "", "soft: PKCS#12 file to write (default REF.p12)")
	fl.StringVar(&o.PasswordFile, "password-file", "", "soft: read the new PKCS#12 password (at least 8 characters) from FILE (- for stdin; env CMCA_P12_PASSWORD; else prompt twice)")
	fl.BoolVar(&o.Force, "force", false, "soft: overwrite an existing --out file")
	fl.BoolVar(&o.WithCA, "with-ca", true, "usbkey: also store the CA certificate on the token")
	o.Token.add(fl)
	return cmd
}

func downloadRun(ctx context.Context, o *DownloadOptions) error {
	if o.Ref == "" {
		return usagef("--ref is required: the reference number (业务受理号) you got when applying")
	}
	algo, err := token.ParseKeyAlgo(o.KeyAlgo)
	if err != nil {
		return err
	}
	code := []byte(o.Passcode)
	if o.Passcode == "" {
		if code, err = o.Secret(secret{What: "download passcode", FileFlag: "--passcode-file", File: o.PasscodeFile, Env: "CMCA_PASSCODE"}); err != nil {
			return err
		}
	}
	if err := ra.ValidatePasscodeFormat(string(code)); err != nil {
		return err
	}
	api, err := o.API(ctx)
	if err != nil {
		return err
	}
	st, err := api.Status(ctx, o.Ref)
	if err != nil {
		return err
	}
	storage := st.Request.Storage
	if o.Storage != "" {
		if storage, err = ra.ParseStorage(o.Storage); err != nil {
			return err
		}
	}
	if storage != st.Request.Storage {
		return errorf("request %s asked for %s storage; download with --storage %s: %w", o.Ref, st.Request.Storage, st.Request.Storage, ra.ErrInvalid)
	}
	in := service.DownloadInput{Ref: o.Ref, Passcode: string(code), Storage: storage}
	var issued *service.Issued
	var where string
	if storage == ra.StorageSoft {
		issued, where, err = downloadSoft(ctx, api, o, in, algo)
	} else {
		issued, where, err = downloadToken(ctx, api, o, in, algo, st.Request)
	}
	if err != nil {
		return err
	}
	if o.IO.JSON() {
		return o.IO.PrintJSON(struct {
			*service.Issued
			Location string `json:"location"`
		}{issued, where})
	}
	if o.IO.Quiet() {
		o.IO.Printf("%s\n", issued.Serial)
		return nil
	}
	verb := o.IO.T("issued")
	if issued.Retrieved {
		verb = o.IO.T("retrieved (it was issued by an earlier, interrupted download)")
	}
	o.IO.Printf("Certificate %s\n  serial:   %s\n  subject:  %s\n  valid:    %s to %s\n  stored in: %s\n", verb, issued.Serial, issued.Subject,
		issued.NotBefore.Local().Format(time.DateOnly), issued.NotAfter.Local().Format(time.DateOnly), where)
	return nil
}

// enroller runs client-side enrolment against api, its notices on o.
func enroller(api enroll.API, o printer) *enroll.Enroller {
	return &enroll.Enroller{API: api, Warn: func(msg string) { o.Warnf("warning: %s\n", msg) }, Refused: definiteFailure}
}

// definiteFailure reports whether the CA certainly issued nothing: the
// error is one of the classified refusals (any exit code but 1), not an
// I/O failure of unknown outcome or a cancellation mid-request.
func definiteFailure(err error) bool {
	return ExitCode(err) != ExitError && !errors.Is(err, context.Canceled)
}

// downloadSoft collects the certificate into a new PKCS#12 file. The key
// goes to disk, encrypted, before the CA signs (OUT.pending): if the
// process dies after signing, the next run finds it and fetches the
// certificate.
func downloadSoft(ctx context.Context, api enroll.API, o *DownloadOptions, in service.DownloadInput, algo token.KeyAlgo) (*service.Issued, string, error) {
	out := o.Out
	if out == "" {
		out = o.Ref + ".p12"
	}
	if err := checkOut(out, o.Force); err != nil {
		return nil, "", err
	}
	pw, err := o.Secret(newP12Password(o.PasswordFile))
	if err != nil {
		return nil, "", err
	}
	defer wipe(pw)
	if err := token.CheckNewPassword(pw); err != nil {
		return nil, "", err
	}
	key, err := enroll.SoftKey(out+".pending", pw, algo)
	if err != nil {
		return nil, "", err
	}
	issued, err := enroller(api, o.IO).Download(ctx, key, in)
	if err != nil {
		return nil, "", err
	}
	if err := key.WritePKCS12(out, issued.Certificate, issued.Chain); err != nil {
		return nil, "", notWritten("certificate "+issued.Serial, out, key.Pending(), err)
	}
	return issued, out, nil
}

// checkOut refuses an --out the PKCS#12 file cannot be written to, before
// any key is made or certificate signed: an existing file without --force,
// and (even with --force) a symbolic link, a directory or anything but a
// regular file.
func checkOut(out string, force bool) error {
	err := atomicfile.CheckTarget(out, force)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, atomicfile.ErrExist):
		return errorf("%s already exists; choose another --out or pass --force: %w", out, ra.ErrConflict)
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission):
		return errorf("cannot use --out %s: %w", out, err)
	}
	return errorf("cannot write --out %s: %v; choose another --out: %w", out, err, ra.ErrConflict)
}

// notWritten explains a PKCS#12 file that could not be written after the
// CA signed: the key is safe in pending, and a rerun with the same --out
// and password finds it, once out can be written.
func notWritten(what, out, pending string, err error) error {
	return errorf("%s was issued but could not be written: %w; its key is kept in %s under the same password: "+
		"make %s writable (remove what is in the way, or free space), then run the same command again with the same --out and password to deliver it",
		what, err, pending, out)
}

// downloadToken collects the certificate onto a USB key token: the key is
// generated there under an ID derived from the reference, so a rerun finds
// it again.
func downloadToken(ctx context.Context, api enroll.API, o *DownloadOptions, in service.DownloadInput, algo token.KeyAlgo, r *ra.Request) (*service.Issued, string, error) {
	s, err := o.OpenToken(ctx, &o.Token)
	if err != nil {
		return nil, "", err
	}
	id := enroll.KeyID(o.Ref)
	label := fmt.Sprintf("%s %s %s", r.Applicant.Name, r.UsageType, r.Ref)
	key, err := enroll.TokenKey(ctx, s, id, label, algo)
	if err != nil {
		return nil, "", err
	}
	issued, err := enroller(api, o.IO).Download(ctx, key, in)
	if err != nil {
		return nil, "", err
	}
	if err := key.StoreCertificate(ctx, label, issued.Certificate); err != nil {
		return nil, "", errorf("the certificate was issued but could not be stored on the token (run the same command again to retry): %w", err)
	}
	if o.WithCA {
		if err := key.StoreCA(ctx, issued.Chain); err != nil {
			o.IO.Warnf("warning: could not store the CA certificate on the token: %v\n", err)
		}
	}
	info := s.Info()
	return issued, fmt.Sprintf("token %q (serial %s), key id %x", info.Label, info.Serial, id), nil
}
