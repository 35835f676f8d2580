package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
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
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return New(CodeTimeout, "the request body did not arrive in time; send it at once after the headers")
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return New(CodeMalformedJSON, "the request body is shorter than its Content-Length: the connection closed before all of it arrived")
		}
		return New(CodeMalformedJSON, "the request body could not be read; send it again")
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
		return decodeError(err, data, reflect.TypeOf(v))
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		var more json.RawMessage
		if json.Unmarshal(data[end:], &more) == nil {
			return New(CodeMalformedJSON, "the request body holds more than one JSON value")
		}
		return New(CodeMalformedJSON, "the request body has data after its JSON value")
	}
	return nil
}

var bytesType = reflect.TypeOf([]byte(nil))

func decodeError(err error, data []byte, t reflect.Type) *Error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var be base64.CorruptInputError
	var pe *time.ParseError
	switch {
	case errors.Is(err, io.EOF):
		return New(CodeMalformedJSON, "the request body is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return New(CodeMalformedJSON, "the request body ends in the middle of its JSON value")
	case errors.As(err, &se):
		return New(CodeMalformedJSON, fmt.Sprintf("the request body is not valid JSON at byte %d: %v", se.Offset, se), "offset", strconv.FormatInt(se.Offset, 10))
	case errors.As(err, &te) && te.Field == "":
		return New(CodeInvalidField, fmt.Sprintf("the request body must be a JSON object, not %s", te.Value), "msg", "wrong JSON type")
	case errors.As(err, &te):
		want := "a JSON " + jsonKind(te.Type.Kind().String())
		if te.Type == bytesType {
			want = "a JSON string of base64 (DER)"
		}
		return fieldError(te.Field, fmt.Sprintf("must be %s, not %s", want, te.Value), "wrong JSON type")
	case errors.As(err, &be):
		// encoding/json does not say which field: find it.
		return fieldError(badField(data, t), fmt.Sprintf("must be base64 (standard alphabet, padded) of the DER; byte %d is not", int64(be)), "not base64")
	case errors.As(err, &pe):
		return fieldError(badField(data, t), fmt.Sprintf("%q is not an RFC 3339 time (e.g. 2026-01-02T15:04:05Z)", pe.Value), "not an RFC 3339 time")
	case strings.HasPrefix(err.Error(), "Time.UnmarshalJSON: "):
		return fieldError(badField(data, t), "must be a JSON string holding an RFC 3339 time", "wrong JSON type")
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		f = strings.Trim(f, `"`)
		e := New(CodeUnknownField, fmt.Sprintf("unknown field %q in the request body", f), "field", f)
		e.Field = f
		return e
	}
	return New(CodeMalformedJSON, "the request body is not valid: "+err.Error())
}

// fieldError is input.invalid_field for the field at path (dotted, as
// encoding/json names fields).
func fieldError(path, problem, short string) *Error {
	if path == "" {
		return New(CodeInvalidField, "a field of the request body "+problem, "msg", short)
	}
	e := New(CodeInvalidField, path+": "+problem, "field", path, "msg", short)
	e.Field = path
	return e
}

// badField is the dotted path of the first field of data (a JSON value of
// type t) whose own value does not decode into its Go type: the field an
// error of encoding/json that names none (bad base64, a bad time) is about.
// "" when it cannot be found.
func badField(data []byte, t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
			return ""
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(data, &obj) != nil {
			return ""
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			f, ok := jsonField(t, k)
			if !ok {
				continue
			}
			if json.Unmarshal(obj[k], reflect.New(f.Type).Interface()) == nil {
				continue
			}
			name := k
			if sub := badField(obj[k], f.Type); sub != "" {
				name += "." + sub
			}
			return name
		}
	case reflect.Slice, reflect.Array:
		if t == bytesType {
			return ""
		}
		var items []json.RawMessage
		if json.Unmarshal(data, &items) != nil {
			return ""
		}
		for _, it := range items {
			if json.Unmarshal(it, reflect.New(t.Elem()).Interface()) != nil {
				return badField(it, t.Elem())
			}
		}
	case reflect.Map:
		var obj map[string]json.RawMessage
		if json.Unmarshal(data, &obj) != nil {
			return ""
		}
		for _, v := range obj {
			if json.Unmarshal(v, reflect.New(t.Elem()).Interface()) != nil {
				return badField(v, t.Elem())
			}
		}
	}
	return ""
}

var unmarshalerType = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()

// jsonField is the field of struct t that the JSON key name decodes into,
// as encoding/json matches them (tag or field name, case-insensitively;
// embedded structs' fields promoted).
func jsonField(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" {
			continue
		}
		if f.Anonymous && tag == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				if sf, ok := jsonField(ft, name); ok {
					return sf, true
				}
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		if strings.EqualFold(tag, name) {
			return f, true
		}
	}
	return reflect.StructField{}, false
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
