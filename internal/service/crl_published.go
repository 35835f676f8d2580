package service

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"github.com/cmca/cmca/internal/msg"
	"io"
	"io/fs"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
)

// highestPublishedCRL is the highest CRL number published under dir: from
// the names of the numbered history files (ca-NNNNNN.crl,
// ca-delta-NNNNNN.crl) and the CRLNumber of the current CRLs (ca.crl,
// ca-delta.crl). CRL numbering never goes below it, whatever the store
// says: a store that lost commits (its -wal file deleted) or an older copy
// put back must not sign a number again that relying parties have seen.
// Files that cannot be read or parsed are skipped; doctor reports them.
func highestPublishedCRL(dir string) (int64, error) {
	var n int64
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, msg.Errorf("scan published CRLs: %w", err)
	}
	for _, e := range entries {
		if m := crlFileName.FindStringSubmatch(e.Name()); m != nil {
			if v, err := strconv.ParseInt(m[2], 10, 64); err == nil {
				n = max(n, v)
			}
		}
	}
	for _, name := range []string{"ca.crl", "ca-delta.crl"} {
		if v, err := crlNumberOfFile(filepath.Join(dir, name)); err == nil {
			n = max(n, v)
		}
	}
	if n == math.MaxInt64 {
		return 0, fmt.Errorf("a CRL numbered %d is published under %s: no higher number is left", n, dir)
	}
	return n, nil
}

// crlNumberOfFile reads the CRLNumber extension of a DER CRL without
// reading its entries (a CRL of a million entries is 48 MB): it follows the
// DER headers of the TBSCertList and seeks past every element up to the
// crlExtensions ([0]), the only one it decodes.
func crlNumberOfFile(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	var off int64
	// CertificateList SEQUENCE, then TBSCertList SEQUENCE: step into both.
	for range 2 {
		tag, hdr, _, err := derHeader(f, off, size)
		if err != nil {
			return 0, err
		}
		if tag != 0x30 {
			return 0, errors.New("not a DER CRL")
		}
		off += hdr
	}
	for {
		tag, hdr, n, err := derHeader(f, off, size)
		if err != nil {
			return 0, err
		}
		if tag != 0xa0 { // version, signature, issuer, times, revoked entries
			off += hdr + n
			continue
		}
		if n > 1<<16 {
			return 0, errors.New("CRL extensions too long")
		}
		body := make([]byte, n)
		if _, err := f.ReadAt(body, off+hdr); err != nil {
			return 0, err
		}
		var exts []pkix.Extension
		if rest, err := asn1.Unmarshal(body, &exts); err != nil || len(rest) != 0 {
			return 0, errors.New("bad CRL extensions")
		}
		for _, e := range exts {
			if e.Id.Equal(oidCRLNumber) {
				var num *big.Int
				if rest, err := asn1.Unmarshal(e.Value, &num); err != nil || len(rest) != 0 || !num.IsInt64() || num.Sign() < 0 {
					return 0, errors.New("bad CRL number")
				}
				return num.Int64(), nil
			}
		}
		return 0, errors.New("CRL has no number")
	}
}

var oidCRLNumber = asn1.ObjectIdentifier{2, 5, 29, 20}

// derHeader reads the DER tag and length at off: the tag byte, the header's
// length and the content's length, which must end within size.
func derHeader(r io.ReaderAt, off, size int64) (tag byte, hdr, n int64, err error) {
	var b [6]byte
	k, err := r.ReadAt(b[:], off)
	if k < 2 {
		if err == nil || errors.Is(err, io.EOF) {
			err = errors.New("truncated DER")
		}
		return 0, 0, 0, err
	}
	tag, hdr = b[0], 2
	if tag&0x1f == 0x1f {
		return 0, 0, 0, errors.New("unexpected DER tag")
	}
	switch l := b[1]; {
	case l < 0x80:
		n = int64(l)
	case l == 0x80 || l > 0x84:
		return 0, 0, 0, errors.New("unsupported DER length")
	default:
		c := int(l & 0x7f)
		if k < 2+c {
			return 0, 0, 0, errors.New("truncated DER")
		}
		for _, d := range b[2 : 2+c] {
			n = n<<8 | int64(d)
		}
		hdr += int64(c)
	}
	if off+hdr+n > size {
		return 0, 0, 0, errors.New("truncated DER")
	}
	return tag, hdr, n, nil
}
