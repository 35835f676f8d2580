package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// MaxBody is the largest request body the server reads (a batch of
// applications or a CRL to check fits well inside).
const MaxBody = 1 << 20

// Decode reads exactly one JSON value into v: unknown fields, trailing
// data, a body over MaxBody and malformed JSON are each an *Error with its
// own code.
func Decode(r io.Reader, v any) error {
	data, err := io.ReadAll(io.LimitReader(r, MaxBody+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return New(CodeTooLarge, fmt.Sprintf("the request body is larger than %d bytes", mbe.Limit), "limit", strconv.FormatInt(mbe.Limit, 10))
		}
		return New(CodeMalformedJSON, "the request body could not be read: "+err.Error())
	}
	if len(data) > MaxBody {
		return New(CodeTooLarge, fmt.Sprintf("the request body is larger than %d bytes", MaxBody), "limit", strconv.Itoa(MaxBody))
	}
	return DecodeBytes(data, v)
}

// DecodeBytes is Decode of a body already read.
func DecodeBytes(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return New(CodeMalformedJSON, "the request body holds more than one JSON value")
	}
	if _, err := dec.Token(); err != io.EOF {
		return New(CodeMalformedJSON, "the request body has data after its JSON value")
	}
	return nil
}

func decodeError(err error) *Error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return New(CodeMalformedJSON, "the request body is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return New(CodeMalformedJSON, "the request body ends in the middle of its JSON value")
	case errors.As(err, &se):
		return New(CodeMalformedJSON, fmt.Sprintf("the request body is not valid JSON at byte %d: %v", se.Offset, se), "offset", strconv.FormatInt(se.Offset, 10))
	case errors.As(err, &te):
		e := New(CodeInvalidField, fmt.Sprintf("%s: must be a JSON %s, not %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value), "field", te.Field, "msg", "wrong JSON type")
		e.Field = te.Field
		return e
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		f = strings.Trim(f, `"`)
		e := New(CodeUnknownField, fmt.Sprintf("unknown field %q in the request body", f), "field", f)
		e.Field = f
		return e
	}
	return New(CodeMalformedJSON, "the request body is not valid: "+err.Error())
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "struct", "map":
		return "object"
	}
	return "number"
}
