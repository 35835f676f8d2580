package ocsp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ca"
	xocsp "golang.org/x/crypto/ocsp"
)

// multiRequest joins the single requests x/crypto makes for serials (by
// issuer, with hash h) into one request with a CertID for each.
func multiRequest(t testing.TB, issuer *x509.Certificate, h crypto.Hash, serials ...int64) []byte {
	t.Helper()
	var out requestASN1
	for _, s := range serials {
		der, err := xocsp.CreateRequest(&x509.Certificate{SerialNumber: big.NewInt(s)}, issuer, &xocsp.RequestOptions{Hash: h})
		if err != nil {
			t.Fatal(err)
		}
		var one requestASN1
		if _, err := asn1.Unmarshal(der, &one); err != nil {
			t.Fatal(err)
		}
		out.TBSRequest.RequestList = append(out.TBSRequest.RequestList, one.TBSRequest.RequestList...)
	}
	der, err := asn1.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestRespondMany: a request for several certificates gets one response,
// signed now, with a status for each that verifies; with a nonce, the nonce
// is echoed.
func TestRespondMany(t *testing.T) {
	r, issuer := testResponder(t)
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
		for _, nonce := range [][]byte{nil, bytes.Repeat([]byte{9}, 16)} {
			der := multiRequest(t, issuer, h, 0x1000, 0x2000, 0x3000)
			if n := certIDCount(der); n != 3 {
				t.Fatalf("certIDCount = %d; want 3", n)
			}
			if nonce != nil {
				der = withNonce(t, der, nonce)
			}
			a, err := r.respond(context.Background(), der, "a")
			if err != nil || !a.fresh || a.e != nil {
				t.Fatalf("respond(%v, nonce %x) = %+v, %v; want a fresh answer", h, nonce, a, err)
			}
			want := map[int64]int{0x1000: xocsp.Good, 0x2000: xocsp.Revoked, 0x3000: xocsp.Unknown}
			for serial, status := range want {
				resp, err := xocsp.ParseResponseForCert(a.der, &x509.Certificate{SerialNumber: big.NewInt(serial)}, issuer)
				if err != nil {
					t.Fatalf("ParseResponseForCert(%x): %v", serial, err)
				}
				if resp.Status != status {
					t.Errorf("%v serial %x: status %d; want %d", h, serial, resp.Status, status)
				}
				if resp.IssuerHash != h {
					t.Errorf("serial %x: CertID hash %v; want %v", serial, resp.IssuerHash, h)
				}
			}
			got, err := responseNonce(a.der)
			if err != nil || !bytes.Equal(got, nonce) {
				t.Errorf("echoed nonce %x, %v; want %x", got, err, nonce)
			}
		}
	}
}

func TestRespondManyRefuses(t *testing.T) {
	r, issuer := testResponder(t)
	okey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ca.SelfSigned(ca.RootOptions{CommonName: "Other CA", Validity: time.Hour, Now: time.Now()}, okey)
	if err != nil {
		t.Fatal(err)
	}
	var tooMany []int64
	for i := range MaxCertIDs + 1 {
		tooMany = append(tooMany, int64(0x1000+i))
	}
	mixed := multiRequest(t, issuer, crypto.SHA1, 0x1000)
	var a, b requestASN1
	asn1.Unmarshal(mixed, &a)
	asn1.Unmarshal(multiRequest(t, other, crypto.SHA1, 0x1000), &b)
	a.TBSRequest.RequestList = append(a.TBSRequest.RequestList, b.TBSRequest.RequestList...)
	mixed, _ = asn1.Marshal(a)
	for _, tt := range []struct {
		name string
		der  []byte
		want error
	}{
		{"another issuer among ours", mixed, errUnauthorized},
		{"more than MaxCertIDs", multiRequest(t, issuer, crypto.SHA1, tooMany...), errMalformed},
	} {
		if _, err := r.respond(context.Background(), tt.der, "a"); !errors.Is(err, tt.want) {
			t.Errorf("%s: respond error %v; want %v", tt.name, err, tt.want)
		}
	}
	if _, err := r.respond(context.Background(), multiRequest(t, issuer, crypto.SHA1, tooMany[:MaxCertIDs]...), "a"); err != nil {
		t.Errorf("MaxCertIDs certificates: %v", err)
	}
}

// TestSigningLimit: answers that cost a signature (a nonce, an unknown
// serial, several certificates) take a token from the client address's
// bucket and are tryLater with Retry-After without one; pre-signed answers
// take none.
func TestSigningLimit(t *testing.T) {
	r, issuer := testResponder(t)
	tokens := map[string]int{"10.0.0.1": 3}
	r.LimitSigning(func(addr string) (time.Duration, bool) {
		if tokens[addr] > 0 {
			tokens[addr]--
			return 0, true
		}
		return 90 * time.Second, false
	})
	single := func(serial int64) []byte {
		der, err := xocsp.CreateRequest(&x509.Certificate{SerialNumber: big.NewInt(serial)}, issuer, nil)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	post := func(der []byte) (*httptest.ResponseRecorder, *xocsp.Response, error) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, Path, bytes.NewReader(der))
		req.RemoteAddr = "10.0.0.1:4711"
		req.Header.Set("Content-Type", "application/ocsp-request")
		r.ServeHTTP(rec, req)
		resp, err := xocsp.ParseResponse(rec.Body.Bytes(), nil)
		return rec, resp, err
	}
	costly := [][]byte{withNonce(t, single(0x1000), []byte{1, 2, 3}), single(0x3000), multiRequest(t, issuer, crypto.SHA1, 0x1000, 0x2000)}
	for i, der := range costly {
		var refused xocsp.ResponseError
		if _, _, err := post(der); errors.As(err, &refused) {
			t.Fatalf("costly request %d within the limit: %v", i, err)
		}
	}
	if tokens["10.0.0.1"] != 0 {
		t.Fatalf("%d tokens left after 3 costly answers; want 0", tokens["10.0.0.1"])
	}
	for i, der := range costly {
		rec, _, err := post(der)
		if !errors.Is(err, xocsp.ResponseError{Status: xocsp.TryLater}) {
			t.Errorf("costly request %d over the limit: %v; want tryLater", i, err)
		}
		if got := rec.Header().Get("Retry-After"); got != "91" {
			t.Errorf("costly request %d: Retry-After %q; want 91", i, got)
		}
	}
	for i := 0; i < 3; i++ { // pre-signed (signed once, then cached): no token
		if _, resp, err := post(single(0x1000)); err != nil || resp.Status != xocsp.Good {
			t.Fatalf("pre-signed answer over the limit: %+v, %v", resp, err)
		}
	}
}
