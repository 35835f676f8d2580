package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/cmca/cmca/internal/ra"
)

// requestTypes are the bodies the server decodes, one per operation.
var requestTypes = []func() any{
	func() any { return new(LookupRequest) }, func() any { return new(ValidateRequest) }, func() any { return new(ApplyRequest) },
	func() any { return new(RejectRequest) }, func() any { return new(IssueRequest) }, func() any { return new(DownloadRequest) },
	func() any { return new(CertificateForKeyRequest) }, func() any { return new(RenewRequest) }, func() any { return new(RevokeRequest) },
	func() any { return new(ReissueRequest) }, func() any { return new(CRLRequest) }, func() any { return new(CheckCRLRequest) },
}

func TestDecode(t *testing.T) {
	tests := []struct {
		body, code, field string
	}{
		{`{"passcode": "x", "csr": "AAAA", "storage": "soft"}`, "", ""},
		{`{"passcode": "x"} `, "", ""},
		{``, CodeMalformedJSON, ""},
		{`{"passcode": `, CodeMalformedJSON, ""},
		{`{"passcode": "x"}{}`, CodeMalformedJSON, ""},
		{`{"passcode": "x"} x`, CodeMalformedJSON, ""},
		{`{"pass": "x"}`, CodeUnknownField, "pass"},
		{`{"passcode": 7}`, CodeInvalidField, "passcode"},
		{`{"csr": "***"}`, CodeInvalidField, "csr"},
		{`{"csr": 5}`, CodeInvalidField, "csr"},
		{`[1]`, CodeInvalidField, ""},
		{`{"passcode": "` + strings.Repeat("a", MaxBody) + `"}`, CodeTooLarge, ""},
	}
	for _, tt := range tests {
		var v DownloadRequest
		err := Decode(strings.NewReader(tt.body), &v)
		var e *Error
		switch {
		case tt.code == "" && err != nil:
			t.Errorf("Decode(%.40q) = %v; want nil", tt.body, err)
		case tt.code != "" && (!errors.As(err, &e) || e.Code != tt.code || e.Field != tt.field):
			t.Errorf("Decode(%.40q) = %#v; want code %s field %q", tt.body, err, tt.code, tt.field)
		case tt.code != "" && !errors.Is(err, ra.ErrInvalid):
			t.Errorf("Decode(%.40q) = %v; want an ra.ErrInvalid", tt.body, err)
		}
	}
}

// TestDecodeMessages: each refusal names the field and says what it must
// be, in words a caller can act on (not Go's error text, not an empty
// field name).
func TestDecodeMessages(t *testing.T) {
	tests := []struct {
		v                     any
		body, field, contains string
	}{
		{new(DownloadRequest), `[1]`, "", "the request body must be a JSON object, not array"},
		{new(DownloadRequest), `"x"`, "", "the request body must be a JSON object, not string"},
		{new(DownloadRequest), `{"csr": "***"}`, "csr", "csr: must be base64 (standard alphabet, padded)"},
		{new(DownloadRequest), `{"csr": 5}`, "csr", "csr: must be a JSON string of base64 (DER), not number"},
		{new(RenewRequest), `{"csr": "AA==", "proof": "%%%"}`, "proof", "proof: must be base64"},
		{new(RenewRequest), `{"signed_at": "yesterday"}`, "signed_at", `signed_at: "yesterday" is not an RFC 3339 time`},
		{new(RevokeRequest), `{"signed_at": 7}`, "signed_at", "signed_at: must be a JSON string"},
		{new(CheckCRLRequest), `{"crl": "-----BEGIN"}`, "crl", "crl: must be base64"},
		{new(DownloadBatchRequest), `{"items": [{"ref": "a"}, {"ref": "b", "csr": "@@"}]}`, "items.csr", "items.csr: must be base64"},
		{new(DownloadRequest), `{}x`, "", "the request body has data after its JSON value"},
		{new(DownloadRequest), `{} {}`, "", "the request body holds more than one JSON value"},
	}
	for _, tt := range tests {
		err := DecodeBytes([]byte(tt.body), tt.v)
		var e *Error
		if !errors.As(err, &e) || e.Field != tt.field || !strings.Contains(e.Message, tt.contains) {
			t.Errorf("Decode(%T, %s) = %v (field %q); want field %q and a message with %q", tt.v, tt.body, err, fieldOf(e), tt.field, tt.contains)
		}
	}
}

// TestDecodeReadFailures: a body that stops arriving (the server's read
// timeout) is input.timeout, 408; one cut short of its Content-Length says
// so; neither shows the connection's addresses.
func TestDecodeReadFailures(t *testing.T) {
	tests := []struct {
		err      error
		code     string
		status   int
		contains string
	}{
		{&net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, CodeTimeout, 408, "did not arrive in time"},
		{io.ErrUnexpectedEOF, CodeMalformedJSON, 400, "shorter than its Content-Length"},
	}
	for _, tt := range tests {
		err := Decode(io.MultiReader(strings.NewReader(`{"passcode": `), iotest.ErrReader(tt.err)), new(DownloadRequest))
		var e *Error
		if !errors.As(err, &e) || e.Code != tt.code || e.Status() != tt.status || !strings.Contains(e.Message, tt.contains) || strings.Contains(e.Message, "tcp") {
			t.Errorf("Decode(body failing with %v) = %v; want %s (%d) saying %q", tt.err, err, tt.code, tt.status, tt.contains)
		}
	}
}

func fieldOf(e *Error) string {
	if e == nil {
		return ""
	}
	return e.Field
}

// FuzzDecodeRequest: no input panics the decoder of any request body; what
// decodes encodes and decodes again to the same value; a refusal is always
// a catalogued invalid-input error.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"applications": [{"applicant": {"name": "张三", "id_type": "resident", "id_number": "11010519491231002X", "mobile": "13812345678", "email": "a@b.c"}, "usage_type": "auth", "acceptance_point": "online", "storage": "soft", "agreement_accepted": true}], "partial": true}`,
		`{"passcode": "AAAA-BBBB-CCCC-DDDD-EEEE", "csr": "MIIB", "storage": "token"}`,
		`{"csr": "AA==", "signed_at": "2026-01-01T00:00:00Z", "proof": "AA==", "comment": "x"}`,
		`{"reason": "keyCompromise", "direct": true}`, `{"crl": "LS0tLS1CRUdJTg=="}`, `{"id_type": "passport", "id_number": "E1"}`,
		`{}`, `[]`, `null`, `{"a":1}`, `{"reason": "\ud800"}`,
	} {
		for i := range requestTypes {
			f.Add(uint8(i), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		newV := requestTypes[int(which)%len(requestTypes)]
		v := newV()
		err := Decode(bytes.NewReader(data), v)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Class != ClassInvalid || e.Status() < 400 || e.Status() >= 500 {
				t.Fatalf("Decode(%q) = %#v; want an invalid-input *Error with a 4xx status", data, err)
			}
			return
		}
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("Marshal after Decode(%q): %v", data, err)
		}
		w := newV()
		if err := Decode(bytes.NewReader(again), w); err != nil {
			t.Fatalf("Decode(Marshal(Decode(%q))) = %v", data, err)
		}
		if !reflect.DeepEqual(normalize(t, v), normalize(t, w)) {
			t.Fatalf("round trip of %q changed the value:\n%#v\n%#v", data, v, w)
		}
	})
}

// normalize compares values by their encoding (time zones, nil vs empty).
func normalize(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
