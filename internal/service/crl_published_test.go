package service

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestCRLNumberOfFile: the CRL number read by following DER headers is the
// one x509 parses, for an empty CRL and one with entries; broken files are
// errors, not panics.
func TestCRLNumberOfFile(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestService(t)
	for want := int64(1); want <= 2; want++ {
		if want == 2 {
			serial := downloaded(t, s, "张三", "11010519491231002X")
			if _, err := s.Revoke(as(ctx, "alice"), RevokeInput{Serial: serial, Reason: "keyCompromise", Direct: true, Comment: "lost laptop"}); err != nil {
				t.Fatal(err)
			}
		}
		res, err := s.CRL(as(ctx, "alice"), CRLOptions{Force: true})
		if err != nil {
			t.Fatal(err)
		}
		got, err := crlNumberOfFile(res.DERPath)
		if err != nil || got != want || res.Number != want {
			t.Errorf("crlNumberOfFile(CRL %d) = %d, %v; want %d", res.Number, got, err, want)
		}
	}
	good, err := os.ReadFile(filepath.Join(s.home, CRLDir, "ca.crl"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"empty":       nil,
		"text":        []byte("correct horse battery\n"),
		"truncated":   good[:len(good)/2],
		"PEM":         []byte("-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n"),
		"huge length": {0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x30, 0x00},
	} {
		path := filepath.Join(t.TempDir(), "ca.crl")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if n, err := crlNumberOfFile(path); err == nil {
			t.Errorf("crlNumberOfFile(%s) = %d, nil; want an error", name, n)
		}
	}
}

// TestHighestPublishedCRL: the highest number from history file names and
// from the current CRL, whose history file may have been pruned.
func TestHighestPublishedCRL(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestService(t)
	dir := filepath.Join(s.home, CRLDir)
	if n, err := highestPublishedCRL(dir); err != nil || n != 0 {
		t.Fatalf("highestPublishedCRL(no CRL) = %d, %v; want 0", n, err)
	}
	for range 3 {
		if _, err := s.CRL(as(ctx, "alice"), CRLOptions{Force: true}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"ca-000001.crl", "ca-000002.crl", "ca-000003.crl"} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "ca-delta-000002.crl"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, err := highestPublishedCRL(dir); err != nil || n != 3 {
		t.Errorf("highestPublishedCRL = %d, %v; want 3 (from ca.crl)", n, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca-000007.crl"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, err := highestPublishedCRL(dir); err != nil || n != 7 {
		t.Errorf("highestPublishedCRL = %d, %v; want 7 (from a file name)", n, err)
	}
	// The next CRL is numbered above every published one.
	res, err := s.CRL(as(ctx, "alice"), CRLOptions{})
	if err != nil || res.Number != 8 {
		t.Fatalf("CRL after published 7 = %+v, %v; want number 8", res, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca-9223372036854775807.crl"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CRL(as(ctx, "alice"), CRLOptions{Force: true}); err == nil {
		t.Error("CRL after a published number 2^63-1 succeeded; want an error")
	}
}

// FuzzCRLNumberOfFile: any file content is an error or a number, never a
// panic or a read past the file.
func FuzzCRLNumberOfFile(f *testing.F) {
	f.Add([]byte{0x30, 0x03, 0x30, 0x01, 0xa0})
	f.Add([]byte{0x30, 0x82, 0x01, 0x00, 0x30, 0x00})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "ca.crl")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if n, err := crlNumberOfFile(path); err == nil && n < 0 {
			t.Errorf("crlNumberOfFile = %d", n)
		}
	})
}
