package ocsp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/store"
	xocsp "golang.org/x/crypto/ocsp"
)

// memStore is a Store in memory: serial 0x1000 is valid, 0x2000 revoked.
type memStore struct {
	mu   sync.Mutex
	rev  int64
	resp map[string]*store.OCSPResponse
}

func (m *memStore) OCSPRevision(context.Context) (int64, error) { return m.rev, nil }

func (m *memStore) LocalRevocations() int64 { return 0 }

func (m *memStore) EachOCSPResponse(context.Context, string, time.Time, func(store.OCSPResponse) error) error {
	return nil
}

func (m *memStore) OCSPCertificate(_ context.Context, serial, hash string) (*store.OCSPCertificate, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var c *store.OCSPCertificate
	switch serial {
	case "1000":
		c = &store.OCSPCertificate{Serial: serial, Status: "valid"}
	case "2000":
		c = &store.OCSPCertificate{Serial: serial, Status: "revoked", RevokedAt: time.Unix(1_700_000_000, 0), Reason: 1}
	default:
		return nil, nil
	}
	c.Response = m.resp[serial+"/"+hash]
	return c, nil
}

func (m *memStore) PutOCSPResponse(_ context.Context, r *store.OCSPResponse) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.resp[r.Serial+"/"+r.Hash] = r
	return nil
}

func (m *memStore) OCSPStale(context.Context, string, time.Time, time.Time, int) ([]store.OCSPCertificate, error) {
	return nil, nil
}

// testResponder is a responder for a fresh CA with a signer in place.
func testResponder(t testing.TB) (*Responder, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.SelfSigned(ca.RootOptions{CommonName: "Fuzz CA", Validity: 24 * time.Hour, Now: time.Now()}, key)
	if err != nil {
		t.Fatal(err)
	}
	authority, err := ca.New(cert, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Options{Issuer: cert, Store: &memStore{resp: map[string]*store.OCSPResponse{}}})
	if err != nil {
		t.Fatal(err)
	}
	skey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	scert, err := authority.IssueOCSPSigner(skey.Public(), time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r.SetSigner(&Signer{Cert: scert, Key: skey})
	return r, cert
}

// FuzzOCSPRequest: any body POSTed to the responder gets an OCSP response
// (a signed one, or one of the unsigned error statuses), never a panic.
func FuzzOCSPRequest(f *testing.F) {
	r, issuer := testResponder(f)
	for _, serial := range []int64{0x1000, 0x2000, 0x3000} {
		for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
			req, err := xocsp.CreateRequest(&x509.Certificate{SerialNumber: big.NewInt(serial)}, issuer, &xocsp.RequestOptions{Hash: h})
			if err != nil {
				f.Fatal(err)
			}
			f.Add(req)
		}
	}
	f.Add([]byte{0x30, 0x00})
	f.Add(multiRequest(f, issuer, crypto.SHA1, 0x1000, 0x2000, 0x3000))
	f.Add(multiRequest(f, issuer, crypto.SHA256, 0x1000, 0x1000))
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, Path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/ocsp-request")
		r.ServeHTTP(rec, req)
		out := rec.Body.Bytes()
		if len(out) == 0 {
			t.Fatalf("empty answer to %x", body)
		}
		// The response for a request with several CertIDs holds several
		// SingleResponses: read the one for the first.
		var first *x509.Certificate
		if req, err := xocsp.ParseRequest(body); err == nil {
			first = &x509.Certificate{SerialNumber: req.SerialNumber}
		}
		if _, err := xocsp.ParseResponseForCert(out, first, nil); err != nil {
			if _, ok := err.(xocsp.ResponseError); !ok {
				t.Fatalf("answer to %x is neither a response nor an OCSP error: %v", body, err)
			}
		}
	})
}

// TestNonceEcho: a nonce is echoed among the responseExtensions of a
// freshly signed response that verifies; an over-long nonce is a
// malformed request.
func TestNonceEcho(t *testing.T) {
	r, issuer := testResponder(t)
	base, err := xocsp.CreateRequest(&x509.Certificate{SerialNumber: big.NewInt(0x1000)}, issuer, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		nonce []byte
		ok    bool
	}{{"16 octets", bytes.Repeat([]byte{7}, 16), true}, {"32 octets", bytes.Repeat([]byte{7}, 32), true}, {"33 octets", bytes.Repeat([]byte{7}, 33), false}} {
		t.Run(tt.name, func(t *testing.T) {
			der := withNonce(t, base, tt.nonce)
			a, err := r.respond(context.Background(), der, "fuzz")
			if !tt.ok {
				if err == nil {
					t.Fatal("accepted")
				}
				return
			}
			if err != nil || !a.fresh {
				t.Fatalf("respond = %+v, %v", a, err)
			}
			resp, err := xocsp.ParseResponse(a.der, issuer)
			if err != nil || resp.Status != xocsp.Good {
				t.Fatalf("ParseResponse: %+v, %v", resp, err)
			}
			got, err := responseNonce(a.der)
			if err != nil || !bytes.Equal(got, tt.nonce) {
				t.Fatalf("echoed nonce %x, %v; want %x", got, err, tt.nonce)
			}
		})
	}
}
