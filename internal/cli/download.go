package cli

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"github.com/cmca/cmca/internal/atomicfile"
	"io/fs"
	"math/big"
	"os"
	"time"

	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/testhook"
	"github.com/cmca/cmca/internal/token"
	"github.com/spf13/cobra"
)

// DownloadOptions are the inputs of `cmca download`.
type DownloadOptions struct {
	F            *Factory
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

func NewCmdDownload(f *Factory, runF func(*DownloadOptions) error) *cobra.Command {
	o := &DownloadOptions{F: f}
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
	f := o.F
	if o.Ref == "" {
		return usagef("--ref is required: the reference number (业务受理号) you got when applying")
	}
	algo, err := token.ParseKeyAlgo(o.KeyAlgo)
	if err != nil {
		return err
	}
	code := []byte(o.Passcode)
	if o.Passcode == "" {
		if code, err = f.readSecret(secret{What: "download passcode", FileFlag: "--passcode-file", File: o.PasscodeFile, Env: "CMCA_PASSCODE"}); err != nil {
			return err
		}
	}
	if err := ra.ValidatePasscodeFormat(string(code)); err != nil {
		return err
	}
	api, err := f.API(ctx)
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
		issued, where, err = downloadSoft(ctx, f, api, o, in, algo)
	} else {
		issued, where, err = downloadToken(ctx, f, api, o, in, algo, st.Request)
	}
	if err != nil {
		return err
	}
	if f.JSON() {
		return f.PrintJSON(struct {
			*service.Issued
			Location string `json:"location"`
		}{issued, where})
	}
	if f.Quiet() {
		f.Printf("%s\n", issued.Serial)
		return nil
	}
	verb := f.T("issued")
	if issued.Retrieved {
		verb = f.T("retrieved (it was issued by an earlier, interrupted download)")
	}
	f.Printf("Certificate %s\n  serial:   %s\n  subject:  %s\n  valid:    %s to %s\n  stored in: %s\n", verb, issued.Serial, issued.Subject,
		issued.NotBefore.Local().Format(time.DateOnly), issued.NotAfter.Local().Format(time.DateOnly), where)
	return nil
}

func downloadSoft(ctx context.Context, f *Factory, api API, o *DownloadOptions, in service.DownloadInput, algo token.KeyAlgo) (*service.Issued, string, error) {
	out := o.Out
	if out == "" {
		out = o.Ref + ".p12"
	}
	if err := checkOut(out, o.Force); err != nil {
		return nil, "", err
	}
	pw, err := f.readSecret(newP12Password(o.PasswordFile))
	if err != nil {
		return nil, "", err
	}
	defer wipe(pw)
	if err := token.CheckNewPassword(pw); err != nil {
		return nil, "", err
	}
	// The key goes to disk, encrypted, before the CA signs: if the process
	// dies after signing, the next run finds it and fetches the certificate.
	pending := out + ".pending"
	key, reused, err := pendingKey(pending, pw, algo)
	if err != nil {
		return nil, "", err
	}
	testhook.Point("download:keygen")
	csr, err := makeCSR(key)
	if err != nil {
		return nil, "", err
	}
	in.CSR = csr
	issued, err := api.Download(ctx, in)
	if err != nil {
		if definiteFailure(err) && !keyWasIssued(ctx, api, key, reused) {
			os.Remove(pending) // nothing was issued for this key
		}
		return nil, "", err
	}
	testhook.Point("download:issued")
	cert, err := x509.ParseCertificate(issued.Certificate)
	if err != nil {
		return nil, "", err
	}
	chain, err := parseChain(issued.Chain)
	if err != nil {
		return nil, "", err
	}
	if err := token.WritePKCS12(out, key, cert, chain, pw, true); err != nil {
		return nil, "", notWritten("certificate "+issued.Serial, out, pending, err)
	}
	os.Remove(pending)
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

// pendingKey reuses the key of an interrupted download (reused is true), or
// makes a new one and saves it (PKCS#12 with a placeholder certificate,
// under the user's password, mode 0600).
func pendingKey(path string, pw []byte, algo token.KeyAlgo) (key crypto.Signer, reused bool, err error) {
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, false, errorf("%s is not a regular file (a symbolic link?); cmca keeps pending keys only in files it made: remove it and run the command again: %w", path, ra.ErrConflict)
	}
	if sk, err := token.ReadPKCS12(path, pw); err == nil {
		return sk.Signer, true, nil
	} else if !errors.Is(err, ra.ErrNotFound) {
		return nil, false, errorf("an interrupted run left %s; it needs the same password (or delete it to start over): %w", path, err)
	}
	key, err = token.GenerateSoftKey(algo)
	if err != nil {
		return nil, false, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cmca pending key"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(30 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, false, err
	}
	placeholder, _ := x509.ParseCertificate(der)
	if err := token.WritePKCS12(path, key, placeholder, nil, pw, false); err != nil {
		return nil, false, err
	}
	return key, false, nil
}

// keyWasIssued reports whether the CA may have issued a certificate for a
// key left by an interrupted download, so that a later refusal (a mistyped
// passcode, say) must not delete the only copy of the key of a valid
// certificate. A key made by this run was certainly not issued.
func keyWasIssued(ctx context.Context, api API, key crypto.Signer, reused bool) bool {
	if !reused {
		return false
	}
	spki, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return true
	}
	_, err = api.CertificateForKey(ctx, spki)
	return !errors.Is(err, ra.ErrNotFound) // found, or unknown: keep it
}

// makeCSR builds a CSR that proves possession of key. Its subject is a
// placeholder: the CA takes identity only from the approved application.
func makeCSR(key crypto.Signer) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "cmca"}}, key)
	if err != nil {
		return nil, errorf("create CSR: %w", err)
	}
	return der, nil
}

func downloadToken(ctx context.Context, f *Factory, api API, o *DownloadOptions, in service.DownloadInput, algo token.KeyAlgo, r *ra.Request) (*service.Issued, string, error) {
	s, err := f.openToken(ctx, &o.Token, true)
	if err != nil {
		return nil, "", err
	}
	id := keyID(o.Ref)
	label := fmt.Sprintf("%s %s %s", r.Applicant.Name, r.UsageType, r.Ref)
	key, err := s.Signer(ctx, id)
	reused := err == nil
	switch {
	case err == nil: // an interrupted download left its key: use it
	case errors.Is(err, ra.ErrNotFound):
		if key, err = s.GenerateKey(ctx, algo, id, label); err != nil {
			return nil, "", err
		}
	default:
		return nil, "", err
	}
	testhook.Point("download:keygen")
	csr, err := makeCSR(key)
	if err == nil {
		in.CSR = csr
		var issued *service.Issued
		if issued, err = api.Download(ctx, in); err == nil {
			testhook.Point("download:issued")
			cert, perr := x509.ParseCertificate(issued.Certificate)
			if perr != nil {
				return nil, "", perr
			}
			if err := s.ImportCertificate(ctx, id, label, cert); err != nil {
				return nil, "", errorf("the certificate was issued but could not be stored on the token (run the same command again to retry): %w", err)
			}
			if o.WithCA {
				if chain, err := parseChain(issued.Chain); err == nil && len(chain) > 0 {
					caID := keyID("ca:" + chain[0].SerialNumber.String())
					if err := s.ImportCertificate(ctx, caID, "CA "+chain[0].Subject.CommonName, chain[0]); err != nil {
						f.Warnf("warning: could not store the CA certificate on the token: %v\n", err)
					}
				}
			}
			info := s.Info()
			return issued, fmt.Sprintf("token %q (serial %s), key id %x", info.Label, info.Serial, id), nil
		}
	}
	// Nothing was issued for this key: leave no orphan behind. After an
	// unclassified error (the outcome is unknown) the key stays for a retry.
	if definiteFailure(err) && !keyWasIssued(ctx, api, key, reused) {
		if derr := s.DeleteObjects(ctx, id); derr != nil {
			f.Warnf("warning: could not remove the unused key from the token: %v\n", derr)
		}
	}
	return nil, "", err
}

// definiteFailure reports whether the CA certainly issued nothing: the
// error is one of the classified refusals, not an I/O failure of unknown
// outcome.
func definiteFailure(err error) bool { return ExitCode(err) != ExitError }
