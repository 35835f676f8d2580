package token

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/cmca/cmca/internal/ra"
)

func TestParseURI(t *testing.T) {
	tests := []struct {
		in   string
		want URI
	}{
		{"pkcs11:", URI{}},
		{"pkcs11:token=My%20Key", URI{Token: "My Key"}},
		{"PKCS11:token=a", URI{Token: "a"}},
		{
			"pkcs11:token=My%20Key;serial=123;id=%01%02;object=label?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin",
			URI{Token: "My Key", Serial: "123", ID: []byte{1, 2}, Object: "label", ModulePath: "/usr/lib/softhsm/libsofthsm2.so", PINSource: "file:/run/pin"},
		},
		{"pkcs11:manufacturer=SoftHSM%20project;model=SoftHSM%20v2", URI{Manufacturer: "SoftHSM project", Model: "SoftHSM v2"}},
		// unknown and unused attributes are ignored
		{"pkcs11:type=private;slot-id=3;token=t;x-vendor=1?module-name=softhsm2&x=y", URI{Token: "t"}},
		// trailing separators are tolerated; "+" is not a space
		{"pkcs11:token=a+b;", URI{Token: "a+b"}},
		{"pkcs11:id=%ff%00", URI{ID: []byte{0xff, 0}}},
		{"pkcs11:object=a=b", URI{Object: "a=b"}},
		{"pkcs11:token=%E2%82%AC", URI{Token: "€"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseURI(tt.in)
			if err != nil {
				t.Fatalf("ParseURI: %v", err)
			}
			if got.Token != tt.want.Token || got.Serial != tt.want.Serial || got.Manufacturer != tt.want.Manufacturer ||
				got.Model != tt.want.Model || got.Object != tt.want.Object || !bytes.Equal(got.ID, tt.want.ID) ||
				got.ModulePath != tt.want.ModulePath || got.PINSource != tt.want.PINSource {
				t.Errorf("ParseURI(%q) = %+v, want %+v", tt.in, *got, tt.want)
			}
		})
	}
}

func TestParseURIErrors(t *testing.T) {
	tests := []struct {
		in, wantMsg string
	}{
		{"", "does not start with"},
		{"token=a", "does not start with"},
		{"pkcs12:token=a", "does not start with"},
		{"pkcs11:token", "not of the form name=value"},
		{"pkcs11:=a", "not of the form name=value"},
		{"pkcs11:token=a;token=b", "more than once"},
		{"pkcs11:token=%zz", "percent-encoding"},
		{"pkcs11:id=%0", "percent-encoding"},
		{"pkcs11:slot-id=%g1", "percent-encoding"},
		{"pkcs11:?module-path=%", "percent-encoding"},
		{"pkcs11:token=a?pin-value=1234", "use pin-source"},
		{"pkcs11:token=a?pin-source=a&pin-source=b", "more than once"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseURI(tt.in)
			if err == nil {
				t.Fatal("ParseURI succeeded, want an error")
			}
			if !errors.Is(err, ra.ErrInvalid) {
				t.Errorf("error %v does not wrap ra.ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tt.wantMsg)
			}
		})
	}
}

func TestURIRoundTrip(t *testing.T) {
	tests := []struct {
		u    URI
		want string // "" means: only check the round trip
	}{
		{URI{}, "pkcs11:"},
		{URI{Token: "My Key"}, "pkcs11:token=My%20Key"},
		{URI{Token: "L", ID: []byte{1, 2}}, "pkcs11:token=L;id=%01%02"},
		{URI{Serial: "123", ModulePath: "/usr/lib/softhsm/libsofthsm2.so"}, "pkcs11:serial=123?module-path=/usr/lib/softhsm/libsofthsm2.so"},
		{URI{Token: "a;b?c&d=e%f/g", Object: "x y", PINSource: "file:/run/my pin"}, ""},
		{URI{Manufacturer: "SoftHSM project", Model: "SoftHSM v2", Serial: "9c9b5818bdbec487", Token: "€ key"}, ""},
		{URI{ID: []byte{0, 0xff, '%', ';'}, Object: "%01"}, ""},
	}
	for _, tt := range tests {
		s := tt.u.String()
		if tt.want != "" && s != tt.want {
			t.Errorf("String() = %q, want %q", s, tt.want)
		}
		got, err := ParseURI(s)
		if err != nil {
			t.Errorf("ParseURI(%q): %v", s, err)
			continue
		}
		if got.String() != s || got.Token != tt.u.Token || got.Object != tt.u.Object || !bytes.Equal(got.ID, tt.u.ID) ||
			got.PINSource != tt.u.PINSource || got.ModulePath != tt.u.ModulePath || got.Serial != tt.u.Serial ||
			got.Manufacturer != tt.u.Manufacturer || got.Model != tt.u.Model {
			t.Errorf("round trip of %+v via %q gave %+v", tt.u, s, *got)
		}
	}
}

func TestSelectorMatches(t *testing.T) {
	tok := TokenInfo{Label: "L", Serial: "123", Manufacturer: "SoftHSM project", Model: "SoftHSM v2", Initialized: true}
	tests := []struct {
		name string
		sel  Selector
		want bool
		zero bool
	}{
		{"zero", Selector{}, true, true},
		{"label", Selector{Label: "L"}, true, false},
		{"wrong label", Selector{Label: "M"}, false, false},
		{"serial", Selector{Serial: "123"}, true, false},
		{"label and wrong serial", Selector{Label: "L", Serial: "124"}, false, false},
		{"uri", Selector{URI: &URI{Token: "L", Model: "SoftHSM v2"}}, true, false},
		{"uri wrong manufacturer", Selector{URI: &URI{Manufacturer: "Yubico"}}, false, false},
		{"uri with only an object", Selector{URI: &URI{Object: "k"}}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.sel.Matches(tok); got != tt.want {
				t.Errorf("Matches = %v, want %v", got, tt.want)
			}
			if got := tt.sel.IsZero(); got != tt.zero {
				t.Errorf("IsZero = %v, want %v", got, tt.zero)
			}
		})
	}
}

func TestAmbiguousTokenError(t *testing.T) {
	err := error(&AmbiguousTokenError{Tokens: []TokenInfo{{Label: "A", Serial: "1", Initialized: true}, {Label: "B", Serial: "2", Initialized: true}}})
	if !errors.Is(err, ra.ErrInvalid) {
		t.Error("AmbiguousTokenError is not ra.ErrInvalid")
	}
	for _, want := range []string{`"A" (serial 1)`, `"B" (serial 2)`, "--token-label", "--token-serial"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not mention %q", err, want)
		}
	}
}
