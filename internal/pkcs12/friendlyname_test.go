// Copyright 2026 the cmca authors.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package pkcs12

// cmca patch: tests of WithFriendlyName. Not in upstream go-pkcs12.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func friendlyNameTestPair(t testing.TB) (*ecdsa.PrivateKey, *x509.Certificate, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(cn string, serial int64) *x509.Certificate {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	return key, mk("leaf", 1), mk("ca", 2)
}

// bagAttributes reads pfx with upstream's decoding code and returns the
// attributes (as upstream's ToPEM names them) of the key bag, the leaf's
// certificate bag and the CA's.
func bagAttributes(t testing.TB, pfx []byte, password string, leaf *x509.Certificate) (key, leafBag, caBag map[string]string) {
	t.Helper()
	encodedPassword, err := bmpStringZeroTerminated(password)
	if err != nil {
		t.Fatal(err)
	}
	bags, _, err := getSafeContents(pfx, encodedPassword, 2, 2)
	if err != nil {
		t.Fatalf("getSafeContents: %v", err)
	}
	for _, bag := range bags {
		attrs := map[string]string{}
		for _, a := range bag.Attributes {
			k, v, err := convertAttribute(&a)
			if err != nil {
				t.Fatalf("convertAttribute: %v", err)
			}
			attrs[k] = v
		}
		switch {
		case bag.Id.Equal(oidKeyBag) || bag.Id.Equal(oidPKCS8ShroundedKeyBag):
			key = attrs
		case bag.Id.Equal(oidCertBag):
			der, err := decodeCertBag(bag.Value.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if string(der) == string(leaf.Raw) {
				leafBag = attrs
			} else {
				caBag = attrs
			}
		}
	}
	if key == nil || leafBag == nil || caBag == nil {
		t.Fatalf("found %d bags; want a key, the leaf and the CA", len(bags))
	}
	return key, leafBag, caBag
}

func TestWithFriendlyNameRoundTrip(t *testing.T) {
	key, leaf, ca := friendlyNameTestPair(t)
	fingerprint := sha1.Sum(leaf.Raw)
	wantID := hex.EncodeToString(fingerprint[:])
	tests := []struct {
		name, friendly string
	}{
		{"ascii", "Alice Example (01AB)"},
		{"chinese BMP", "张三 (3F2A91C4)"},
		{"CJK extension A", "㐀㐁 test"},
		{"CJK extension B, surrogate pairs", "𠀀𪚥 王"},
		{"empty sets none", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const password = "correct horse battery"
			pfx, err := Modern.WithFriendlyName(tt.friendly).Encode(key, leaf, []*x509.Certificate{ca}, password)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			k, l, c := bagAttributes(t, pfx, password, leaf)
			for _, bag := range []struct {
				what  string
				attrs map[string]string
			}{{"key bag", k}, {"leaf bag", l}} {
				if got := bag.attrs["localKeyId"]; got != wantID {
					t.Errorf("%s localKeyId = %q; want %q", bag.what, got, wantID)
				}
				got, ok := bag.attrs["friendlyName"]
				if tt.friendly == "" {
					if ok {
						t.Errorf("%s friendlyName = %q; want none", bag.what, got)
					}
				} else if got != tt.friendly {
					t.Errorf("%s friendlyName = %q; want %q", bag.what, got, tt.friendly)
				}
			}
			if len(c) != 0 {
				t.Errorf("CA bag attributes = %v; want none (upstream sets none)", c)
			}
			gotKey, gotLeaf, gotChain, err := DecodeChain(pfx, password)
			if err != nil {
				t.Fatalf("DecodeChain: %v", err)
			}
			if !gotLeaf.Equal(leaf) || len(gotChain) != 1 || !gotChain[0].Equal(ca) || !key.Equal(gotKey) {
				t.Errorf("DecodeChain returned another key, leaf or chain")
			}
		})
	}
}

func TestWithFriendlyNameLeavesEncoderAlone(t *testing.T) {
	key, leaf, ca := friendlyNameTestPair(t)
	_ = Modern.WithFriendlyName("named")
	pfx, err := Modern.Encode(key, leaf, []*x509.Certificate{ca}, "password")
	if err != nil {
		t.Fatal(err)
	}
	k, l, _ := bagAttributes(t, pfx, "password", leaf)
	if _, ok := k["friendlyName"]; ok {
		t.Errorf("Modern.Encode after WithFriendlyName: key bag has friendlyName %q", k["friendlyName"])
	}
	if _, ok := l["friendlyName"]; ok {
		t.Errorf("Modern.Encode after WithFriendlyName: leaf bag has friendlyName %q", l["friendlyName"])
	}
}

func TestWithFriendlyNameRejects(t *testing.T) {
	key, leaf, _ := friendlyNameTestPair(t)
	for _, name := range []string{"bad \xff utf-8", "nul\x00inside"} {
		if _, err := Passwordless.WithFriendlyName(name).Encode(key, leaf, nil, ""); err == nil {
			t.Errorf("Encode with friendly name %q: no error; want one", name)
		}
	}
}

func FuzzWithFriendlyName(f *testing.F) {
	for _, s := range []string{"", "a", "张三 (01)", "𠀀", "\uffff", "\ud7ff\ue000", strings.Repeat("名", 300)} {
		f.Add(s)
	}
	key, leaf, ca := friendlyNameTestPair(f)
	f.Fuzz(func(t *testing.T, name string) {
		pfx, err := Passwordless.WithFriendlyName(name).Encode(key, leaf, []*x509.Certificate{ca}, "")
		if !utf8.ValidString(name) || strings.ContainsRune(name, 0) {
			if err == nil {
				t.Fatalf("Encode(%q): no error; want one", name)
			}
			return
		}
		if err != nil {
			t.Fatalf("Encode(%q): %v", name, err)
		}
		k, l, _ := bagAttributes(t, pfx, "", leaf)
		if name == "" {
			name = "<none>"
			for _, m := range []map[string]string{k, l} {
				if _, ok := m["friendlyName"]; !ok {
					m["friendlyName"] = name
				}
			}
		}
		if k["friendlyName"] != name || l["friendlyName"] != name {
			t.Fatalf("friendlyName round trip of %q: key bag %q, leaf bag %q", name, k["friendlyName"], l["friendlyName"])
		}
		if k["localKeyId"] == "" || k["localKeyId"] != l["localKeyId"] {
			t.Fatalf("localKeyId: key bag %q, leaf bag %q; want equal and set", k["localKeyId"], l["localKeyId"])
		}
	})
}
