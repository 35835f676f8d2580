package service

import (
	"context"
	"crypto"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
)

// renewalRequest files a renewal of got (outside the window: a request for
// review) with proof of possession by key.
func renewalRequest(t *testing.T, s *Service, got *Issued, key crypto.Signer) string {
	t.Helper()
	csr := csrFor(t, newKey(t))
	at := s.Now()
	proof, err := ca.SignPossession(key, "renew", got.Serial, at, csr)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Renew(as(context.Background(), "subscriber"), RenewInput{Serial: got.Serial, CSR: csr, SignedAt: at, Proof: proof})
	if err != nil || r.State != ra.StateSubmitted {
		t.Fatalf("Renew = %+v, %v; want a submitted request", r, err)
	}
	return r.Ref
}

func revokeDirect(t *testing.T, s *Service, serial, reason string) {
	t.Helper()
	if _, err := s.Revoke(as(context.Background(), "alice"), RevokeInput{Serial: serial, Reason: reason, Direct: true, Comment: "test"}); err != nil {
		t.Fatalf("Revoke(%s, %s): %v", serial, reason, err)
	}
}

func wantConflict(t *testing.T, what string, err error, contains string) {
	t.Helper()
	if !errors.Is(err, ra.ErrConflict) || !strings.Contains(errString(err), contains) {
		t.Fatalf("%s: %v; want ErrConflict saying %q", what, err, contains)
	}
}

// TestRenewalOfRevokedTarget: a renewal filed before its certificate was
// revoked (or expired) is refused at every later step — approve (one and
// --all-submitted), issue and download — and nothing is issued; review
// shows the target's status.
func TestRenewalOfRevokedTarget(t *testing.T) {
	ctx := context.Background()
	type step int
	const (
		beforeApprove step = iota
		beforeIssue
		beforeDownload
	)
	for _, tc := range []struct {
		name  string
		at    step
		later time.Duration // the clock moves on after the renewal is filed
		kill  func(t *testing.T, s *Service, clk *clock, serial string)
		says  string
		state ra.CertStatus
	}{
		{"revoked before approve", beforeApprove, 0, func(t *testing.T, s *Service, _ *clock, serial string) {
			revokeDirect(t, s, serial, "keyCompromise")
		}, "was revoked", ra.CertRevoked},
		{"revoked before issue", beforeIssue, 0, func(t *testing.T, s *Service, _ *clock, serial string) {
			revokeDirect(t, s, serial, "keyCompromise")
		}, "was revoked", ra.CertRevoked},
		{"revoked before download", beforeDownload, 0, func(t *testing.T, s *Service, _ *clock, serial string) {
			revokeDirect(t, s, serial, "privilegeWithdrawn")
		}, "was revoked", ra.CertRevoked},
		{"expired before approve", beforeApprove, 0, func(t *testing.T, s *Service, clk *clock, serial string) {
			clk.Add(400 * 24 * time.Hour)
		}, "expired", ra.CertExpired},
		// Issued 5 days before the certificate expires, fetched 6 days later:
		// the passcode (14 days) is still good, the certificate is not.
		{"expired before download", beforeDownload, 360 * 24 * time.Hour, func(t *testing.T, s *Service, clk *clock, serial string) {
			clk.Add(6 * 24 * time.Hour)
		}, "expired", ra.CertExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, clk := newTestService(t)
			got, key := enrolledWithKey(t, s)
			ref := renewalRequest(t, s, got, key)
			clk.Add(tc.later)
			var code string
			if tc.at >= beforeIssue {
				if _, err := s.Approve(as(ctx, "alice"), ref); err != nil {
					t.Fatal(err)
				}
			}
			if tc.at >= beforeDownload {
				a, err := s.Issue(as(ctx, "bob"), ref, false)
				if err != nil {
					t.Fatal(err)
				}
				code = a.Passcode
			}
			tc.kill(t, s, clk, got.Serial)

			rs, err := s.Requests(as(ctx, "alice"), store.RequestFilter{Kinds: []ra.Kind{ra.KindRenew}})
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) != 1 || rs[0].TargetStatus != tc.state {
				t.Fatalf("Requests: %d requests, target status %q; want 1 with %q", len(rs), rs[0].TargetStatus, tc.state)
			}
			d, err := s.Status(ctx, ref)
			if err != nil || d.Request.TargetStatus != tc.state {
				t.Fatalf("Status(%s) = target status %q, %v; want %q", ref, d.Request.TargetStatus, err, tc.state)
			}

			switch tc.at {
			case beforeApprove:
				_, err := s.Approve(as(ctx, "alice"), ref)
				wantConflict(t, "Approve", err, tc.says)
				done, failed, err := s.ApproveMany(as(ctx, "alice"), nil, true)
				if err != nil || len(done) != 0 || len(failed) != 1 || !errors.Is(failed[0].Err, ra.ErrConflict) {
					t.Fatalf("ApproveMany(all submitted) = %d done, %v failed, %v; want the renewal refused", len(done), failed, err)
				}
			case beforeIssue:
				_, err := s.Issue(as(ctx, "bob"), ref, false)
				wantConflict(t, "Issue", err, tc.says)
				_, failed, err := s.IssueMany(as(ctx, "bob"), nil, true, false)
				if err != nil || len(failed) != 1 || !errors.Is(failed[0].Err, ra.ErrConflict) {
					t.Fatalf("IssueMany(all approved) = %v, %v; want the renewal refused", failed, err)
				}
			case beforeDownload:
				_, err := s.Download(ctx, DownloadInput{Ref: ref, Passcode: code, CSR: csrFor(t, newKey(t))})
				wantConflict(t, "Download", err, tc.says)
				outs, err := s.DownloadMany(as(ctx, "clerk"), []DownloadInput{{Ref: ref, Passcode: code, CSR: csrFor(t, newKey(t))}})
				if err != nil || len(outs) != 1 || !errors.Is(outs[0].Err, ra.ErrConflict) {
					t.Fatalf("DownloadMany = %+v, %v; want the renewal refused", outs, err)
				}
			}
			certs, err := s.Certificates(as(ctx, "alice"), "", 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(certs) != 1 {
				t.Errorf("%d certificates after the refusals; want only the original", len(certs))
			}
		})
	}
}

// TestReissueOfRevokedTarget: a reissue replaces a lost or damaged
// certificate, so its target may already be revoked for keyCompromise or
// superseded (the reasons its own approval would use); a target revoked
// for any other reason (the holder is no longer entitled) is refused.
func TestReissueOfRevokedTarget(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		reason string
		ok     bool
	}{
		{"keyCompromise", true},
		{"superseded", true},
		{"privilegeWithdrawn", false},
		{"affiliationChanged", false},
		{"cessationOfOperation", false},
		{"unspecified", false},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			s, _ := newTestService(t)
			got, _ := enrolledWithKey(t, s)
			re, err := s.Reissue(as(ctx, "subscriber"), ReissueInput{Serial: got.Serial, Reason: "lost"})
			if err != nil {
				t.Fatal(err)
			}
			revokeDirect(t, s, got.Serial, tc.reason)
			d, err := s.Approve(as(ctx, "alice"), re.Ref)
			if !tc.ok {
				wantConflict(t, "Approve", err, "revoked for "+tc.reason)
				return
			}
			if err != nil || d.RevokedSerial != "" {
				t.Fatalf("Approve = %+v, %v; want approved, nothing more revoked", d, err)
			}
			a, err := s.Issue(as(ctx, "bob"), re.Ref, false)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Download(ctx, DownloadInput{Ref: re.Ref, Passcode: a.Passcode, CSR: csrFor(t, newKey(t))}); err != nil {
				t.Fatalf("Download: %v", err)
			}
		})
	}
}
