package cli

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/ra"
	"github.com/spf13/cobra"
)

// NewCmdCA is `cmca ca`: the CA certificate, shown on the CA's machine and
// fetched onto a client's.
func NewCmdCA(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ca",
		Short: "The CA certificate: show it and its fingerprint, or fetch it from a server",
	}
	cmd.AddCommand(newCmdCAShow(f), NewCmdCAFetch(f, nil))
	return cmd
}

// caInfo describes a CA certificate.
type caInfo struct {
	Subject     string    `json:"subject"`
	Serial      string    `json:"serial"`
	NotAfter    time.Time `json:"not_after"`
	Fingerprint string    `json:"sha256_fingerprint"` // hex of SHA-256 over the DER, colon-separated like openssl
	Path        string    `json:"path,omitempty"`
}

func describeCA(c *x509.Certificate, path string) caInfo {
	return caInfo{Subject: c.Subject.String(), Serial: ra.SerialString(c.SerialNumber), NotAfter: c.NotAfter, Fingerprint: Fingerprint(c.Raw), Path: path}
}

// Fingerprint is the SHA-256 fingerprint of a DER certificate, upper-case
// hex separated by colons, as `openssl x509 -fingerprint -sha256` prints.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	parts := make([]string, 0, len(sum))
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}

// parseFingerprint accepts a SHA-256 fingerprint as users copy it: hex,
// any case, with or without colons or spaces, optionally prefixed by
// "sha256:" or openssl's "SHA256 Fingerprint=".
func parseFingerprint(s string) ([]byte, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(strings.ToLower(t), "sha256") {
		if j := strings.IndexAny(t, "=:"); j >= 0 {
			t = t[j+1:]
		}
	}
	t = strings.NewReplacer(":", "", " ", "", "-", "").Replace(t)
	b, err := hex.DecodeString(t)
	if err != nil || len(b) != sha256.Size {
		return nil, ra.Fieldf("fingerprint", "%q is not a SHA-256 fingerprint (64 hex digits, as `cmca ca show` or `openssl x509 -fingerprint -sha256` prints it)", s)
	}
	return b, nil
}

func newCmdCAShow(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "show",
		Short: "Show the home's CA certificate and its SHA-256 fingerprint (give the fingerprint to clients for `cmca ca fetch`)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, err := f.Local(cmd.Context())
			if err != nil {
				return err
			}
			data, err := svc.CACertificate()
			if err != nil {
				return err
			}
			certs, err := ca.ParseCertificatesPEM(data)
			if err != nil {
				return err
			}
			info := describeCA(certs[0], "")
			if f.JSON() {
				return f.PrintJSON(info)
			}
			if f.Quiet() {
				f.Printf("%s\n", info.Fingerprint)
				return nil
			}
			f.Printf("CA %s\n  serial:      %s\n  expires:     %s\n  SHA-256:     %s\n", info.Subject, info.Serial, info.NotAfter.Local().Format(time.DateOnly), info.Fingerprint)
			return nil
		},
	}
}

// CAFetchOptions are the inputs of `cmca ca fetch`.
type CAFetchOptions struct {
	F           *Factory
	URL         string
	Fingerprint string
	Out         string
	Force       bool
	Client      *http.Client
}

func NewCmdCAFetch(f *Factory, runF func(*CAFetchOptions) error) *cobra.Command {
	o := &CAFetchOptions{F: f}
	cmd := &cobra.Command{
		Use:   "fetch URL --fingerprint SHA256 [--out FILE]",
		Short: "Fetch the CA certificate from a server's public HTTP listener and check its fingerprint",
		Long: `Bootstrap a client's trust in a cmca server: fetch the CA certificate from the
server's public HTTP listener (cmca serve --listen-http; URL is its base, to
which /ca.crt is added, or the certificate's own URL), check that its SHA-256
fingerprint is the one the CA's operators gave you (` + "`cmca ca show`" + ` prints it), and
save it as PEM for --server-ca / CMCA_SERVER_CA. A certificate with another
fingerprint is refused (exit 5) and nothing is saved: the connection is not
trusted, the fingerprint is.`,
		Example: `  cmca ca fetch http://ca.example.com:8080 --fingerprint 3A:9F:...:C2 --out ca.pem
  export CMCA_SERVER=https://ca.example.com:8443 CMCA_SERVER_CA=$PWD/ca.pem`,
		Args: needArgs(1, "the server's public URL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.URL = args[0]
			if runF != nil {
				return runF(o)
			}
			return caFetchRun(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Fingerprint, "fingerprint", "", "expected SHA-256 fingerprint of the CA certificate (required)")
	cmd.Flags().StringVar(&o.Out, "out", "server-ca.pem", "file to save the CA certificate to (PEM)")
	cmd.Flags().BoolVar(&o.Force, "force", false, "overwrite an existing --out file")
	return cmd
}

func caFetchRun(ctx context.Context, o *CAFetchOptions) error {
	f := o.F
	if o.Fingerprint == "" {
		return usagef("--fingerprint is required: the SHA-256 fingerprint of the CA certificate, from the CA's operators (`cmca ca show`)")
	}
	want, err := parseFingerprint(o.Fingerprint)
	if err != nil {
		return err
	}
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ra.Fieldf("url", "%q is not an http or https URL", o.URL)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/ca.crt"
	}
	if err := ensureAbsent(o.Out, o.Force); err != nil {
		return err
	}
	client := o.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return errorf("fetch the CA certificate: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return errorf("%s: no CA certificate there (404); give the base URL of the server's public listener or the certificate's URL: %w", u, ra.ErrNotFound)
	}
	if resp.StatusCode != http.StatusOK {
		return errorf("%s answered %s", u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return errorf("fetch the CA certificate: %w", err)
	}
	cert, err := parseOneCertificate(body)
	if err != nil {
		return errorf("%s: %v: %w", u, err, ra.ErrInvalid)
	}
	got := sha256.Sum256(cert.Raw)
	if !strings.EqualFold(hex.EncodeToString(got[:]), hex.EncodeToString(want)) {
		return errorf("the certificate at %s (%s) has SHA-256 fingerprint %s, not the one given; it is not saved: check the fingerprint with the CA's operators: %w",
			u, cert.Subject.CommonName, Fingerprint(cert.Raw), ra.ErrAuth)
	}
	if !cert.IsCA {
		return errorf("the certificate at %s (%s) is not a CA certificate: %w", u, cert.Subject.CommonName, ra.ErrInvalid)
	}
	if err := ca.WritePEM(o.Out, 0o644, &pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}); err != nil {
		return err
	}
	info := describeCA(cert, o.Out)
	if f.JSON() {
		return f.PrintJSON(info)
	}
	if f.Quiet() {
		f.Printf("%s\n", o.Out)
		return nil
	}
	f.Printf("CA certificate %s saved to %s (fingerprint checked)\nUse it with --server-ca %s or CMCA_SERVER_CA.\n", info.Subject, o.Out, o.Out)
	return nil
}

// parseOneCertificate reads the first certificate of a DER or PEM body.
func parseOneCertificate(b []byte) (*x509.Certificate, error) {
	if blk, _ := pem.Decode(b); blk != nil {
		certs, err := ca.ParseCertificatesPEM(b)
		if err != nil {
			return nil, err
		}
		return certs[0], nil
	}
	c, err := x509.ParseCertificate(b)
	if err != nil {
		return nil, errorf("the answer is not a certificate (DER or PEM)")
	}
	return c, nil
}
