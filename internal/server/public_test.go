package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cmca/cmca/internal/api"
	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/store"
)

// TestPublicDamagedFiles: a CRL or CA certificate file in the home that is
// damaged, empty, unreadable or a directory is never served as if it were
// one (200 with garbage, or a bare 500): the answer is 503 with a message
// naming what is damaged and what the CA's operator runs, the log line has
// the code publish.damaged and the problem, and nothing reaches the client
// half sent. The repaired file is served again at once.
func TestPublicDamagedFiles(t *testing.T) {
	svc := newTestService(t)
	if _, err := svc.CRL(principal.With(context.Background(), principal.LocalOperator("alice")), service.CRLOptions{}); err != nil {
		t.Fatal(err)
	}
	log := &syncBuffer{}
	h := NewPublicHandler(PublicOptions{Home: svc.Home(), Config: svc.Config(), Logger: slog.New(slog.NewJSONHandler(log, nil))})
	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec
	}
	crl := filepath.Join(svc.Home(), service.CRLDir, "ca.crl")
	crlPEM := filepath.Join(svc.Home(), service.CRLDir, "ca.crl.pem")
	caCert := filepath.Join(svc.Home(), service.CACertFile)
	damage := []struct {
		name, file string
		paths      []string
		spoil      func(path string) error
		hint       string
	}{
		{"CRL garbage", crl, []string{"/crl/ca.crl"}, func(p string) error { return os.WriteFile(p, []byte("garbage\n"), 0o644) }, "cmca crl --force"},
		{"CRL truncated", crl, []string{"/crl/ca.crl"}, truncate, "cmca crl --force"},
		{"CRL a directory", crl, []string{"/crl/ca.crl"}, func(p string) error {
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Mkdir(p, 0o755)
		}, "cmca crl --force"},
		{"CRL missing", crl, []string{"/crl/ca.crl"}, os.Remove, "cmca crl --force"},
		{"CRL PEM missing", crlPEM, []string{"/crl/ca.crl.pem"}, os.Remove, "cmca crl --force"},
		{"CRL PEM empty", crlPEM, []string{"/crl/ca.crl.pem"}, func(p string) error { return os.WriteFile(p, nil, 0o644) }, "cmca crl --force"},
		{"CRL PEM not a CRL", crlPEM, []string{"/crl/ca.crl.pem"}, func(p string) error {
			return os.WriteFile(p, []byte("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"), 0o644)
		}, "cmca crl --force"},
		{"CA certificate garbage", caCert, []string{"/ca.crt", "/ca.pem"}, func(p string) error { return os.WriteFile(p, []byte("junk\n"), 0o644) }, "cmca doctor"},
	}
	for _, tt := range damage {
		t.Run(tt.name, func(t *testing.T) {
			good, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.spoil(tt.file); err != nil {
				t.Fatal(err)
			}
			for _, p := range tt.paths {
				rec := get(p)
				if rec.Code != 503 || !strings.Contains(rec.Body.String(), "damaged") || !strings.Contains(rec.Body.String(), tt.hint) {
					t.Errorf("GET %s with the file damaged = %d %q; want 503 naming the damage and %q", p, rec.Code, rec.Body, tt.hint)
				}
			}
			if !strings.Contains(log.String(), `"outcome":"`+api.CodePublishDamaged+`"`) {
				t.Errorf("log has no %s outcome:\n%s", api.CodePublishDamaged, log)
			}
			os.RemoveAll(tt.file)
			if err := os.WriteFile(tt.file, good, 0o644); err != nil {
				t.Fatal(err)
			}
			for _, p := range tt.paths {
				if rec := get(p); rec.Code != 200 {
					t.Errorf("GET %s once repaired = %d %q; want 200", p, rec.Code, rec.Body)
				}
			}
		})
	}
}

func truncate(p string) error {
	data, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	return os.WriteFile(p, data[:len(data)/2], 0o644)
}

// TestPublicCRLFromStoreDamaged: a CRL the store records whose body (its
// numbered file in the home, for a CRL signed before `cmca store migrate`)
// is missing or does not match is a 503 naming the repair, not a bare 500.
func TestPublicCRLFromStoreDamaged(t *testing.T) {
	src := &fakeCRLs{err: fmt.Errorf("CRL 3: crl/ca-000003.crl is missing: %w", service.ErrCRLDamaged)}
	h := NewPublicHandler(PublicOptions{Home: t.TempDir(), CRLs: src})
	for _, p := range []string{"/crl/ca.crl", "/crl/ca.crl.pem", "/crl/ca-delta.crl"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		if rec.Code != 503 || !strings.Contains(rec.Body.String(), "damaged") || !strings.Contains(rec.Body.String(), "cmca crl --force") {
			t.Errorf("GET %s = %d %q; want 503 naming the damage and `cmca crl --force`", p, rec.Code, rec.Body)
		}
	}
}

// TestPublicWrongMethod: a public path asked with another method than GET
// (or HEAD) is 405 with Allow, not 404 as if it did not exist.
func TestPublicWrongMethod(t *testing.T) {
	h := NewPublicHandler(PublicOptions{Home: t.TempDir()})
	for _, m := range []string{"POST", "PUT", "DELETE", "OPTIONS"} {
		for _, p := range []string{"/crl/ca.crl", "/ca.crt", "/healthz"} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(m, p, nil))
			if rec.Code != 405 || !strings.Contains(rec.Header().Get("Allow"), "GET") {
				t.Errorf("%s %s = %d Allow %q; want 405 Allow: GET, HEAD", m, p, rec.Code, rec.Header().Get("Allow"))
			}
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/nothing", nil))
	if rec.Code != 404 {
		t.Errorf("POST /nothing = %d; want 404", rec.Code)
	}
}

// TestAPICACertificateDamaged: GET /api/v1/ca with a damaged ca/ca.crt is
// the structured error publish.damaged (503), not 200 with the junk and no
// DER.
func TestAPICACertificateDamaged(t *testing.T) {
	ts := newTestServer(t, Options{})
	if err := os.WriteFile(filepath.Join(ts.svc.Home(), service.CACertFile), []byte("junk\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, body := ts.do("GET", "/api/v1/ca", "", nil)
	if e := decodeError(t, body); res.StatusCode != 503 || e.Code != api.CodePublishDamaged || !strings.Contains(e.Message, "damaged") {
		t.Errorf("GET /api/v1/ca with ca.crt damaged = %d %s; want 503 %s", res.StatusCode, body, api.CodePublishDamaged)
	}
}

// TestPublicCRLFromStoreFileDamaged: the real CRLSource (service.CurrentCRL)
// for a CRL whose body the store does not hold: its numbered file missing
// or altered is 503 naming the repair, and `cmca crl --force` puts it right.
func TestPublicCRLFromStoreFileDamaged(t *testing.T) {
	svc := newTestService(t)
	ctx := principal.With(context.Background(), principal.LocalOperator("alice"))
	if _, err := svc.CRL(ctx, service.CRLOptions{}); err != nil {
		t.Fatal(err)
	}
	h := NewPublicHandler(PublicOptions{Home: svc.Home(), CRLs: svc})
	get := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/crl/ca.crl", nil))
		return rec
	}
	if svc.Store().Engine() != store.SQLite {
		t.Skip("PostgreSQL keeps CRL bodies in the store")
	}
	// Altered before this process first served it (served bodies are
	// kept in memory, checked once).
	numbered := filepath.Join(svc.Home(), service.CRLDir, "ca-000001.crl")
	if err := os.WriteFile(numbered, []byte("altered"), 0o644); err != nil {
		t.Fatal(err)
	}
	if rec := get(); rec.Code != 503 || !strings.Contains(rec.Body.String(), "cmca crl --force") {
		t.Errorf("GET with the numbered file altered = %d %q; want 503 naming `cmca crl --force`", rec.Code, rec.Body)
	}
	if _, err := svc.CRL(ctx, service.CRLOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if rec := get(); rec.Code != 200 {
		t.Errorf("GET after `cmca crl --force` = %d %q; want 200", rec.Code, rec.Body)
	}
}
