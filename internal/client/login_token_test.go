//go:build cgo

package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/testtool"
	"github.com/cmca/cmca/internal/token"
)

const softhsmModule = "/usr/lib/softhsm/libsofthsm2.so"

// softHSMToken makes a throwaway SoftHSM token (user PIN 5678).
func softHSMToken(t *testing.T, label string) {
	t.Helper()
	testtool.Need(t, softhsmModule, "softhsm2-util")
	dir := t.TempDir()
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	if out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", "1234", "--pin", "5678").CombinedOutput(); err != nil {
		t.Fatalf("softhsm2-util: %v\n%s", err, out)
	}
}

// TestLoadLoginToken: the key stays on the token; the login signs the TLS
// handshake through PKCS#11. One login certificate is found without an id;
// with two, the error lists the ids to put in the URI.
func TestLoadLoginToken(t *testing.T) {
	softHSMToken(t, "Op Key")
	ctx := context.Background()
	authority := newCA(t)
	m, err := token.OpenModule(softhsmModule)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, err := m.Open(ctx, token.Selector{Label: "Op Key"}, []byte("5678"))
	if err != nil {
		t.Fatal(err)
	}
	put := func(id []byte, name string) {
		key, err := s.GenerateKey(ctx, token.ECDSAP256, id, "cmca operator "+name)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := authority.IssueOperator(key.Public(), name, time.Hour, ca.Extras{}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.ImportCertificate(ctx, id, "cmca operator "+name, cert); err != nil {
			t.Fatal(err)
		}
	}
	put([]byte{1, 2}, "alice")
	s.Close()

	asked := ""
	l, err := LoadLogin(ctx, LoginOptions{Source: "pkcs11:token=Op%20Key", Module: softhsmModule, Secret: func(what string) ([]byte, error) {
		asked = what
		return []byte("5678"), nil
	}})
	if err != nil {
		t.Fatalf("LoadLogin(token): %v", err)
	}
	if asked != "login PIN" {
		t.Errorf("asked for %q; want the login PIN", asked)
	}
	if got := handshake(t, authority, l); got.Subject.CommonName != "alice" {
		t.Errorf("server saw %s; want alice", got.Subject.CommonName)
	}
	l.Close()

	if _, err := LoadLogin(ctx, LoginOptions{Source: "pkcs11:token=Op%20Key", Module: softhsmModule, Secret: secretIs("0000")}); !errors.Is(err, ra.ErrAuth) {
		t.Errorf("LoadLogin(wrong PIN) = %v; want ErrAuth", err)
	}
	if _, err := LoadLogin(ctx, LoginOptions{Source: "pkcs11:token=Nope", Module: softhsmModule, Secret: func(string) ([]byte, error) {
		t.Error("PIN asked for a token that is not there")
		return nil, nil
	}}); !errors.Is(err, ra.ErrNotFound) {
		t.Errorf("LoadLogin(missing token) = %v; want ErrNotFound", err)
	}

	s, err = m.Open(ctx, token.Selector{Label: "Op Key"}, []byte("5678"))
	if err != nil {
		t.Fatal(err)
	}
	put([]byte{3, 4}, "bob")
	s.Close()
	_, err = LoadLogin(ctx, LoginOptions{Source: "pkcs11:token=Op%20Key", Module: softhsmModule, Secret: secretIs("5678")})
	if !errors.Is(err, ra.ErrInvalid) || !strings.Contains(err.Error(), "id=%01%02 (alice)") || !strings.Contains(err.Error(), "id=%03%04 (bob)") {
		t.Errorf("LoadLogin(two certificates) = %v; want an error listing both ids", err)
	}
	l, err = LoadLogin(ctx, LoginOptions{Source: "pkcs11:token=Op%20Key;id=%03%04", Module: softhsmModule, Secret: secretIs("5678")})
	if err != nil {
		t.Fatalf("LoadLogin(id=%%03%%04): %v", err)
	}
	defer l.Close()
	if got := handshake(t, authority, l); got.Subject.CommonName != "bob" {
		t.Errorf("server saw %s; want bob", got.Subject.CommonName)
	}
}
