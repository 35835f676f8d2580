package store

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ra"
)

// TestAuditHashEncoding pins the chain link's encoding to its definition
// ("len:field;" for each field, then SHA-256), as every record already
// written was hashed: a faster encoder must not change one byte.
func TestAuditHashEncoding(t *testing.T) {
	want := func(prev string, e ra.Event, b binding) string {
		h := sha256.New()
		fields := []string{prev, strconv.FormatInt(e.Seq, 10), strconv.FormatInt(e.At.Unix(), 10), e.Operator, e.Action,
			e.Ref, e.Serial, string(e.From), string(e.To), e.Detail}
		if b != (binding{}) {
			fields = append(fields, "bound", b.req, b.cert)
		}
		for _, f := range fields {
			fmt.Fprintf(h, "%d:%s;", len(f), f)
		}
		return hex.EncodeToString(h.Sum(nil))
	}
	at := time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)
	long := string(make([]byte, 700))
	tests := []struct {
		e ra.Event
		b binding
	}{
		{ra.Event{Seq: 1, At: at, Operator: "clerk", Action: "apply", Ref: "20261127-ABCD0001", To: ra.StateSubmitted}, binding{}},
		{ra.Event{Seq: 123456, At: at, Operator: "subscriber", Action: "download", Ref: "20261127-ABCD0001", Serial: "0a1b2c",
			From: ra.StateIssued, To: ra.StateCompleted, Detail: "serial=0a1b2c"}, binding{req: "identity=aa;state=bb", cert: "certificate=cc"}},
		{ra.Event{Seq: 7, At: time.Unix(0, 0), Detail: "中文 " + long}, binding{req: "r"}},
		{ra.Event{}, binding{}},
	}
	for _, tt := range tests {
		for _, prev := range []string{genesis, "ff"} {
			if got, w := auditHash(prev, tt.e, tt.b), want(prev, tt.e, tt.b); got != w {
				t.Errorf("auditHash(%q, %+v, %+v) = %s; want %s", prev, tt.e, tt.b, got, w)
			}
		}
	}
}
