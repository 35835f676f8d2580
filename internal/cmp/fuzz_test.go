package cmp

import (
	"math/big"
	"testing"
)

func bigOne() *big.Int { return big.NewInt(1) }

// FuzzParsePKIMessage feeds arbitrary bytes to every parser of a request
// the handler runs before any secret is involved. Nothing may panic; a
// message that parses marshals back to bytes that parse again alike.
func FuzzParsePKIMessage(f *testing.F) {
	for _, der := range openSSLMessages(f) {
		f.Add(der)
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		m, err := ParseMessage(der)
		if err != nil {
			return
		}
		again, err := m.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed message: %v", err)
		}
		m2, err := ParseMessage(again)
		if err != nil || m2.Type != m.Type {
			t.Fatalf("re-parse: %v", err)
		}
		switch m.Type {
		case BodyIR, BodyCR, BodyP10CR, BodyKUR:
			if reqs, err := ParseCertRequests(m.Type, m.Body); err == nil {
				for _, r := range reqs {
					r.VerifyPOP()
				}
			}
		case BodyRR:
			ParseRevocationRequests(m.Body)
		case BodyCertConf:
			ParseCertConf(m.Body)
		case BodyError:
			ParseError(m.Body)
		case BodyIP, BodyCP, BodyKUP:
			ParseCertRep(m.Body)
		case BodyRP:
			ParseRevRep(m.Body)
		}
		if c, err := NewMACChecker(m, 1000); err == nil {
			c.Check([]byte("ABCD"))
		}
		if len(m.ExtraCerts) > 0 {
			m.VerifySignature(m.ExtraCerts[0])
		}
	})
}
