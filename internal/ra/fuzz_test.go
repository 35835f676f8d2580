package ra

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// checkAccepted asserts the invariants every accepted value must keep:
// valid UTF-8, NFC, and a fixed point of its validator.
func checkAccepted(t *testing.T, what, in, out string, again func(string) (string, error)) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Fatalf("%s(%q) = %q: not valid UTF-8", what, in, out)
	}
	if !norm.NFC.IsNormalString(out) {
		t.Fatalf("%s(%q) = %q: not NFC", what, in, out)
	}
	if out != strings.TrimSpace(out) {
		t.Fatalf("%s(%q) = %q: surrounding space", what, in, out)
	}
	out2, err := again(out)
	if err != nil || out2 != out {
		t.Fatalf("%s(%q) = %q, but %s(%q) = %q, %v: not idempotent", what, in, out, what, out, out2, err)
	}
}

// checkRejected asserts an error is a short *FieldError wrapping ErrInvalid
// whose message is valid UTF-8 (a quoted input is truncated).
func checkRejected(t *testing.T, what, in string, err error) {
	t.Helper()
	var fe *FieldError
	if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("%s(%q) error %v (%T) is not a *FieldError wrapping ErrInvalid", what, in, err, err)
	}
	if fe.Msg == "" || len(fe.Msg) > 400 || !utf8.ValidString(fe.Msg) {
		t.Fatalf("%s(%q) error message is empty, too long (%d bytes) or not UTF-8: %q", what, in, len(fe.Msg), fe.Msg)
	}
}

func FuzzValidateID(f *testing.F) {
	for _, s := range []string{
		"11010519491231002X", "11010519491231002x", " 110105 19491231 002X ", "１１０１０５１９４９１２３１００２Ｘ",
		"110105194912310021", "110105491231002", "81000019800101001X", "E12345678", "H1234567801",
		"m87654321", "1234567801(B)", "12345678", "", "\xff", "1101051949123100é2",
	} {
		for i := range IDTypes {
			f.Add(uint8(i), s)
		}
	}
	f.Fuzz(func(t *testing.T, ti uint8, number string) {
		typ := IDTypes[int(ti)%len(IDTypes)]
		out, err := ValidateID(typ, number)
		if err != nil {
			checkRejected(t, "ValidateID", number, err)
			return
		}
		checkAccepted(t, "ValidateID", number, out, func(s string) (string, error) { return ValidateID(typ, s) })
		for i := 0; i < len(out); i++ {
			if c := out[i]; !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
				t.Fatalf("ValidateID(%q, %q) = %q: not upper-case ASCII letters and digits", typ, number, out)
			}
		}
		if typ == IDResident || typ == IDResidencePermit {
			if _, ok := BirthDate(typ, out); !ok {
				t.Fatalf("BirthDate(%q, %q) not ok for an accepted number", typ, out)
			}
			if len(out) != 18 || string(gbCheckDigit(out[:17])) != out[17:] || checkChar(out[:17]) != out[17:] {
				t.Fatalf("ValidateID(%q, %q) = %q: wrong length or check character", typ, number, out)
			}
		}
	})
}

func FuzzValidateName(f *testing.F) {
	for _, s := range []string{
		"张三", " 张 三 ", "买买提·艾力", "买买提•艾力", "José", "Jose\u0301", "e\u0301", "O’Neil",
		"J. R. R. Tolkien", "Иван", "𠀀", "张\u200d三", "\u202eabc", "\xff", "·张", "\u0301e",
		"a\u0301\u0302\u0323", "ﬁ", "Å", "\u212b", "\u0387",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := ValidateName("name", s)
		if err != nil {
			checkRejected(t, "ValidateName", s, err)
			return
		}
		checkAccepted(t, "ValidateName", s, out, func(s string) (string, error) { return ValidateName("name", s) })
		if n := utf8.RuneCountInString(out); n < 1 || n > maxName {
			t.Fatalf("ValidateName(%q) = %q: %d runes", s, out, n)
		}
		if strings.Contains(out, "  ") {
			t.Fatalf("ValidateName(%q) = %q: double space", s, out)
		}
		// ValidateText must accept any valid name unchanged.
		if txt, err := ValidateText("name", out, maxName, true); err != nil || txt != out {
			t.Fatalf("ValidateText(%q) = %q, %v; want the accepted name unchanged", out, txt, err)
		}
	})
}

func FuzzValidateText(f *testing.F) {
	for _, s := range []string{"北京市西城区", " Rue de l'E\u0301glise ", "a\nb", "👩\u200d💻", "\xff", ""} {
		f.Add(s, 20)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		out, err := ValidateText("address", s, max, true)
		if err != nil {
			checkRejected(t, "ValidateText", s, err)
			return
		}
		checkAccepted(t, "ValidateText", s, out, func(s string) (string, error) { return ValidateText("address", s, max, true) })
	})
}

func FuzzValidateEmail(f *testing.F) {
	for _, s := range []string{
		"zhang.san@example.com", " ZS@Example.COM ", "a+tag@mail.example.cn", "Zhang <zs@example.com>",
		`"a b"@example.com`, "zs@[192.0.2.1]", "zs@localhost", "张三@example.com", "zs@example.com (x)",
		"a@b.c", "\xff", "zs@xn--fsqu00a.xn--fiqs8s",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := ValidateEmail(s)
		if err != nil {
			checkRejected(t, "ValidateEmail", s, err)
			return
		}
		checkAccepted(t, "ValidateEmail", s, out, ValidateEmail)
		if len(out) > maxEmail || strings.Count(out, "@") != 1 {
			t.Fatalf("ValidateEmail(%q) = %q: too long or not exactly one @", s, out)
		}
		for i := 0; i < len(out); i++ {
			if out[i] < 0x21 || out[i] >= 0x7f {
				t.Fatalf("ValidateEmail(%q) = %q: byte %#x is not printable ASCII", s, out, out[i])
			}
		}
		domain := out[strings.IndexByte(out, '@')+1:]
		if domain != strings.ToLower(domain) {
			t.Fatalf("ValidateEmail(%q) = %q: domain not lower-case", s, out)
		}
	})
}

func FuzzValidateMobile(f *testing.F) {
	for _, s := range []string{
		"13812345678", "+86 138 1234 5678", "008613812345678", "１３８１２３４５６７８", "+852 6123 4567",
		"00853-66123456", "+886 0912 345 678", "+1 415 555 0100", "61234567", "", "\xff", "+",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := ValidateMobile(s)
		if err != nil {
			checkRejected(t, "ValidateMobile", s, err)
			return
		}
		checkAccepted(t, "ValidateMobile", s, out, ValidateMobile)
		digits := strings.TrimPrefix(out, "+")
		if !isDigits(digits) {
			t.Fatalf("ValidateMobile(%q) = %q: not digits", s, out)
		}
		switch {
		case len(out) == 11 && out[0] == '1':
		case len(out) == 12 && (strings.HasPrefix(out, "+852") || strings.HasPrefix(out, "+853")):
		case len(out) == 13 && strings.HasPrefix(out, "+8869"):
		default:
			t.Fatalf("ValidateMobile(%q) = %q: unexpected form", s, out)
		}
	})
}

func FuzzValidateOperator(f *testing.F) {
	for _, s := range []string{"alice", "alice ", " Alice Smith ", "system", "SYSTEM", "anonymous", "张三", "a\x1b]52;c;Zm9v\x07", "a\rb", "a\u202eb", "a\u200db", "a\u00a0b", "\xff", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := ValidateOperator(s)
		if err != nil {
			checkRejected(t, "ValidateOperator", s, err)
			return
		}
		checkAccepted(t, "ValidateOperator", s, out, ValidateOperator)
		for _, r := range out {
			if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				t.Fatalf("ValidateOperator(%q) = %q: keeps the control character %U", s, out, r)
			}
		}
	})
}

// FuzzNameParts: NameParts never panics; what it accepts is both parts or
// neither, each a valid name, spelling the name, and accepted again
// unchanged.
func FuzzNameParts(f *testing.F) {
	for _, s := range [][3]string{
		{"张三", "张", "三"}, {"张三", "", ""}, {"Anna Schmidt", "Schmidt", "Anna"}, {"买买提·艾力", "艾力", "买买提"},
		{"ZHANG San", "zhang", "san"}, {"张三", "李", "四"}, {"张三", "张", ""}, {"张三", "\xff", "三"}, {"가", "ᄀ", "ᅡ"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, name, surname, given string) {
		name, err := ValidateName("name", name)
		if err != nil {
			return
		}
		s, g, err := NameParts(name, surname, given)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || (fe.Field != "surname" && fe.Field != "given_name") {
				t.Fatalf("NameParts(%q, %q, %q) = %v; want a surname or given_name FieldError", name, surname, given, err)
			}
			return
		}
		if (s == "") != (g == "") {
			t.Fatalf("NameParts(%q, %q, %q) = %q, %q: one part without the other", name, surname, given, s, g)
		}
		if s != "" && !namePartsMake(name, s, g) {
			t.Fatalf("NameParts(%q, %q, %q) = %q, %q: they do not spell the name", name, surname, given, s, g)
		}
		if s2, g2, err := NameParts(name, s, g); err != nil || s2 != s || g2 != g {
			t.Fatalf("NameParts is not idempotent: (%q, %q) -> %q, %q, %v", s, g, s2, g2, err)
		}
	})
}
