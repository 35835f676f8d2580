package cmp

import (
	"encoding/asn1"
	"strings"
)

// PKIStatus values (RFC 4210 §5.2.3).
const (
	StatusAccepted               = 0
	StatusGrantedWithMods        = 1
	StatusRejection              = 2
	StatusWaiting                = 3
	StatusRevocationWarning      = 4
	StatusRevocationNotification = 5
	StatusKeyUpdateWarning       = 6
)

// FailureInfo is a PKIFailureInfo bit number.
type FailureInfo int

// PKIFailureInfo bits.
const (
	BadAlg              FailureInfo = 0
	BadMessageCheck     FailureInfo = 1
	BadRequest          FailureInfo = 2
	BadTime             FailureInfo = 3
	BadCertID           FailureInfo = 4
	BadDataFormat       FailureInfo = 5
	WrongAuthority      FailureInfo = 6
	IncorrectData       FailureInfo = 7
	MissingTimeStamp    FailureInfo = 8
	BadPOP              FailureInfo = 9
	CertRevoked         FailureInfo = 10
	CertConfirmed       FailureInfo = 11
	WrongIntegrity      FailureInfo = 12
	BadRecipientNonce   FailureInfo = 13
	TimeNotAvailable    FailureInfo = 14
	UnacceptedPolicy    FailureInfo = 15
	UnacceptedExtension FailureInfo = 16
	AddInfoNotAvailable FailureInfo = 17
	BadSenderNonce      FailureInfo = 18
	BadCertTemplate     FailureInfo = 19
	SignerNotTrusted    FailureInfo = 20
	TransactionIDInUse  FailureInfo = 21
	UnsupportedVersion  FailureInfo = 22
	NotAuthorized       FailureInfo = 23
	SystemUnavail       FailureInfo = 24
	SystemFailure       FailureInfo = 25
	DuplicateCertReq    FailureInfo = 26
)

// StatusInfo is a PKIStatusInfo.
type StatusInfo struct {
	Status       int
	StatusString []asn1.RawValue `asn1:"optional"`
	FailInfo     asn1.BitString  `asn1:"optional"`
}

// Text is the status string, lines joined.
func (s StatusInfo) Text() string { return strings.Join(FreeText(s.StatusString), "; ") }

// Failure reports whether bit f is set.
func (s StatusInfo) Failure(f FailureInfo) bool { return s.FailInfo.At(int(f)) == 1 }

func newStatus(status int, text string, fails ...FailureInfo) StatusInfo {
	si := StatusInfo{Status: status, StatusString: freeText(text)}
	if len(fails) > 0 {
		si.FailInfo = failureBits(fails...)
	}
	return si
}

// failureBits encodes PKIFailureInfo bits as a DER named bit string (no
// trailing zero bits).
func failureBits(fails ...FailureInfo) asn1.BitString {
	top := 0
	for _, f := range fails {
		if int(f) > top {
			top = int(f)
		}
	}
	b := make([]byte, top/8+1)
	for _, f := range fails {
		b[f/8] |= 0x80 >> (f % 8)
	}
	return asn1.BitString{Bytes: b, BitLength: top + 1}
}
