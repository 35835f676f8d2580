package cli

import (
	"strings"
	"testing"

	"github.com/cmca/cmca/internal/ra"
)

// TestApplyNameParts: the surname and given name reach the application
// from flags and from every file format, under the documented keys.
func TestApplyNameParts(t *testing.T) {
	want := ra.Applicant{Name: "张三", Surname: "张", GivenName: "三"}
	flags := func(args ...string) applicationRecord {
		t.Helper()
		var got *ApplyOptions
		cmd := NewCmdApply(&Factory{IO: &IOStreams{}, v: newViper()}, func(o *ApplyOptions) error { got = o; return nil })
		cmd.SetArgs(args)
		if err := cmd.Execute(); err != nil {
			t.Fatalf("apply %v: %v", args, err)
		}
		if !got.Set["surname"] || !got.Set["given_name"] {
			t.Errorf("apply %v: Set = %v; want surname and given_name marked as given by flag", args, got.Set)
		}
		return got.Record
	}
	file := func(ext, data string) applicationRecord {
		t.Helper()
		recs, err := parseApplications([]byte(data), ext)
		if err != nil || len(recs) != 1 {
			t.Fatalf("parseApplications(%s) = %v, %v; want one record", ext, recs, err)
		}
		return recs[0]
	}
	tests := []struct {
		name string
		rec  func() applicationRecord
	}{
		{"flags", func() applicationRecord { return flags("--name", "张三", "--surname", "张", "--given-name", "三") }},
		{"json", func() applicationRecord {
			return file(".json", `{"name": "张三", "surname": "张", "given_name": "三"}`)
		}},
		{"yaml", func() applicationRecord { return file(".yaml", "name: 张三\nsurname: 张\ngiven_name: 三\n") }},
		{"csv", func() applicationRecord { return file(".csv", "name,surname,given_name\n张三,张,三\n") }},
	}
	for _, tt := range tests {
		a, err := tt.rec().application()
		if err != nil {
			t.Errorf("%s: application() = %v", tt.name, err)
			continue
		}
		if a.Applicant.Name != want.Name || a.Applicant.Surname != want.Surname || a.Applicant.GivenName != want.GivenName {
			t.Errorf("%s: applicant = %q, %q, %q; want %q, %q, %q", tt.name, a.Applicant.Name, a.Applicant.Surname, a.Applicant.GivenName,
				want.Name, want.Surname, want.GivenName)
		}
	}
	// The flags are named in errors about their fields.
	for field, flag := range map[string]string{"surname": "--surname", "given_name": "--given-name"} {
		if fieldFlags[field] != flag {
			t.Errorf("fieldFlags[%q] = %q; want %q", field, fieldFlags[field], flag)
		}
	}
	// Invalid UTF-8 in a part is refused naming the field.
	if _, err := parseApplications([]byte("name,surname,given_name\n张三,\xff,三\n"), ".csv"); err == nil || !strings.Contains(err.Error(), "surname: not valid UTF-8") {
		t.Errorf("parseApplications(invalid UTF-8 in surname) = %v; want an error naming surname", err)
	}
}
