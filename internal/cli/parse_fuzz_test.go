package cli

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"testing"

	"github.com/cmca/cmca/internal/ra"
)

// FuzzParseApplications feeds arbitrary files to the --from-file parser
// (JSON, YAML and CSV, and extension sniffing). It must never panic; a
// refusal must be an ra.ErrInvalid (exit 2) naming the file's fault; and
// what it accepts must survive a round trip through JSON and CSV unchanged,
// so no field is silently dropped or altered.
func FuzzParseApplications(f *testing.F) {
	f.Add([]byte(`{"name":"张三","id_type":"resident","id_number":"11010519491231002X","mobile":"13812345678","email":"z@example.com","usage_type":"auth","acceptance_point":"online","storage":"soft","agreement_accepted":true}`), ".json")
	f.Add([]byte(`[{"name":"a"},{"name":"b","bogus":1}]`), ".json")
	f.Add([]byte(`{"applications":[{"name":"a","agreement_accepted":"yes"}]}`), "")
	f.Add([]byte("applications:\n  - name: 张三\n    id_number: 11010519491231002X\n    agreement_accepted: true\n  - name: x\n    unknown: 1\n"), ".yaml")
	f.Add([]byte("name: [1, 2]\n"), ".yml")
	f.Add([]byte("name,id_number,agreement_accepted\n张三,11010519491231002X,true\n\"multi\nline\",x,no\n"), ".csv")
	f.Add([]byte("\ufeffname,name\n"), ".csv")
	f.Add([]byte("name,email\n\"unterminated,x\n"), ".csv")
	f.Fuzz(func(t *testing.T, data []byte, ext string) {
		recs, err := parseApplications(data, ext)
		if err != nil {
			if !errors.Is(err, ra.ErrInvalid) {
				t.Fatalf("parseApplications(%q, %q) error %v is not ErrInvalid", data, ext, err)
			}
			return
		}
		for i := range recs {
			recs[i].Line = 0
		}
		// JSON round trip
		j, err := json.Marshal(recs)
		if err != nil {
			t.Fatal(err)
		}
		back, err := parseApplications(j, ".json")
		if err != nil {
			t.Fatalf("re-parsing our own JSON %s: %v", j, err)
		}
		if len(recs) > 0 && !reflect.DeepEqual(back, recs) {
			t.Fatalf("JSON round trip changed the records:\n%+v\n%+v", recs, back)
		}
		// CSV round trip
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		cols := make([]string, 0, len(csvColumns))
		idx := make([]int, 0, len(csvColumns))
		for name, i := range csvColumns {
			cols, idx = append(cols, name), append(idx, i)
		}
		if err := w.Write(cols); err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			v := reflect.ValueOf(r)
			row := make([]string, len(idx))
			for k, i := range idx {
				switch fv := v.Field(i); fv.Kind() {
				case reflect.String:
					row[k] = fv.String()
				case reflect.Bool:
					row[k] = strconv.FormatBool(fv.Bool())
				}
			}
			if err := w.Write(row); err != nil {
				t.Fatal(err)
			}
		}
		w.Flush()
		if err := w.Error(); err != nil {
			t.Fatal(err)
		}
		back, err = parseApplications(buf.Bytes(), ".csv")
		if err != nil {
			t.Fatalf("re-parsing our own CSV %q: %v", buf.Bytes(), err)
		}
		for i := range back {
			back[i].Line = 0
		}
		if len(recs) > 0 && !csvEquivalent(recs, back) {
			t.Fatalf("CSV round trip changed the records:\n%+v\n%+v", recs, back)
		}
	})
}

// csvEquivalent compares records as CSV can carry them: encoding/csv turns
// \r\n inside a quoted field into \n.
func csvEquivalent(a, b []applicationRecord) bool {
	if len(a) != len(b) {
		return false
	}
	norm := func(r applicationRecord) applicationRecord {
		v := reflect.ValueOf(&r).Elem()
		for i := range v.NumField() {
			if f := v.Field(i); f.Kind() == reflect.String {
				f.SetString(string(bytes.ReplaceAll([]byte(f.String()), []byte("\r\n"), []byte("\n"))))
			}
		}
		return r
	}
	for i := range a {
		if !reflect.DeepEqual(norm(a[i]), norm(b[i])) {
			return false
		}
	}
	return true
}
