package ra

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// checkChar computes the GB 11643-1999 check character the long way, as
// the standard describes it: weights Wi = 2^(i-1) mod 11 for positions
// i = 18..2 counted from the right, and the check value a1 with
// (sum + a1) mod 11 == 1. It is deliberately independent of gbCheckDigit.
func checkChar(first17 string) string {
	sum := 0
	for k := 0; k < 17; k++ {
		i := 18 - k // position from the right
		w := 1
		for j := 1; j < i; j++ {
			w = w * 2 % 11
		}
		sum += int(first17[k]-'0') * w
	}
	for a1 := 0; a1 <= 10; a1++ {
		if (sum+a1)%11 == 1 {
			if a1 == 10 {
				return "X"
			}
			return string(rune('0' + a1))
		}
	}
	panic("unreachable")
}

func withCheck(first17 string) string { return first17 + checkChar(first17) }

// wrongCheck returns the number with a check character that is not the
// right one.
func wrongCheck(first17 string) string {
	c := checkChar(first17)
	if c == "0" {
		return first17 + "1"
	}
	return first17 + "0"
}

// fixClock sets the validation clock to 2025-06-15 12:00 China time.
func fixClock(t *testing.T) {
	t.Helper()
	old := now
	now = func() time.Time { return time.Date(2025, 6, 15, 4, 0, 0, 0, time.UTC) }
	t.Cleanup(func() { now = old })
}

func fieldErr(t *testing.T, err error) *FieldError {
	t.Helper()
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a *FieldError", err, err)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("error %v does not wrap ErrInvalid", err)
	}
	return fe
}

func TestCheckCharPublishedSample(t *testing.T) {
	// The sample number of GB 11643-1999, Appendix A.
	if got := checkChar("11010519491231002"); got != "X" {
		t.Fatalf("checkChar(sample) = %s; want X", got)
	}
	for _, first17 := range []string{"11010519491231002", "44030420000229123", "65010219991231567"} {
		if got, want := string(gbCheckDigit(first17)), checkChar(first17); got != want {
			t.Errorf("gbCheckDigit(%s) = %s; want %s", first17, got, want)
		}
	}
}

func TestValidateID(t *testing.T) {
	fixClock(t)
	long := strings.Repeat("1", 10000)
	tests := []struct {
		typ     IDType
		in      string
		want    string // "" means an error is expected
		errWant string // substring of the error message
	}{
		// Resident identity cards.
		{IDResident, "11010519491231002X", "11010519491231002X", ""},
		{IDResident, "11010519491231002x", "11010519491231002X", ""},
		{IDResident, "  110105 19491231 002x ", "11010519491231002X", ""},
		{IDResident, "１１０１０５１９４９１２３１００２Ｘ", "11010519491231002X", ""}, // full-width
		{IDResident, withCheck("44030420000229123"), withCheck("44030420000229123"), ""},
		{IDResident, withCheck("65010219000101001"), withCheck("65010219000101001"), ""},
		{IDResident, withCheck("46010020250615001"), withCheck("46010020250615001"), ""}, // born today
		{IDResident, withCheck("50010119991231001"), withCheck("50010119991231001"), ""},
		{IDResident, "110105194912310021", "", "check digit is 1, expected X (GB 11643-1999)"},
		{IDResident, wrongCheck("32010219800101123"), "", "check digit is"},
		{IDResident, withCheck("11010519490230002"), "", "birth date 19490230 does not exist"},
		{IDResident, withCheck("11010519000229002"), "", "birth date 19000229 does not exist"}, // 1900 not a leap year
		{IDResident, withCheck("11010519491301002"), "", "does not exist"},
		{IDResident, withCheck("11010519490000002"), "", "does not exist"},
		{IDResident, withCheck("11010520250616001"), "", "birth date 20250616 is in the future"},
		{IDResident, withCheck("11010520990101001"), "", "is in the future"},
		{IDResident, withCheck("11010518991231001"), "", "before 1900"},
		{IDResident, withCheck("99010519491231002"), "", "region code 990105"},
		{IDResident, withCheck("01010519491231002"), "", "region code 010105"},
		{IDResident, withCheck("71010519491231002"), "", "province code"},
		{IDResident, withCheck("81000019491231002"), "", "use ID type hmt-residence"},
		{IDResident, "11010519491231002", "", "must be 18 characters (GB 11643-1999), got 17"},
		{IDResident, "11010519491231002X1", "", "got 19"},
		{IDResident, "110105491231002", "", "15-digit first-generation"},
		{IDResident, "1101051949123100AX", "", "character 17 is 'A'"},
		{IDResident, "11010519491231002Y", "", "character 18 is 'Y'"},
		{IDResident, "1101051949123100é2", "", "character 17 is 'é'"},
		{IDResident, "", "", "is required"},
		{IDResident, "   ", "", "is required"},
		{IDResident, long, "", "got 10000"},
		{IDResident, "11010519491231002\xff", "", "not valid UTF-8"},

		// Residence permits for Hong Kong, Macau and Taiwan residents.
		{IDResidencePermit, withCheck("81000019800101001"), withCheck("81000019800101001"), ""},
		{IDResidencePermit, withCheck("82000019900515002"), withCheck("82000019900515002"), ""},
		{IDResidencePermit, strings.ToLower(withCheck("83000019950707003")), withCheck("83000019950707003"), ""},
		{IDResidencePermit, withCheck("11010519491231002"), "", "not a residence permit code"},
		{IDResidencePermit, withCheck("81010019800101001"), "", "not a residence permit code"},
		{IDResidencePermit, wrongCheck("81000019800101001"), "", "check digit"},
		{IDResidencePermit, withCheck("81000019800230001"), "", "does not exist"},

		// Passports.
		{IDPassport, "E12345678", "E12345678", ""},
		{IDPassport, " e1234 5678 ", "E12345678", ""},
		{IDPassport, "AB123", "AB123", ""},
		{IDPassport, "A1234567890123456789", "A1234567890123456789", ""},
		{IDPassport, "AB12", "", "5 to 20"},
		{IDPassport, "A12345678901234567890", "", "5 to 20"},
		{IDPassport, "E-1234567", "", "other than letters and digits"},
		{IDPassport, "护照12345", "", "other than letters and digits"},
		{IDPassport, long, "", "5 to 20"},

		// Mainland travel permits for Hong Kong and Macau residents.
		{IDHKMacau, "H12345678", "H12345678", ""},
		{IDHKMacau, "m87654321", "M87654321", ""},
		{IDHKMacau, "H1234567801", "H12345678", ""}, // pre-2013: renewal count dropped
		{IDHKMacau, "X12345678", "", "must start with H (Hong Kong) or M (Macau)"},
		{IDHKMacau, "H1234567", "", "followed by 8 digits"},
		{IDHKMacau, "H123456789", "", "followed by 8 digits"},
		{IDHKMacau, "H1234567A", "", "followed by 8 digits"},

		// Mainland travel permits for Taiwan residents.
		{IDTaiwan, "12345678", "12345678", ""},
		{IDTaiwan, "1234567801", "12345678", ""},
		{IDTaiwan, "1234567801(b)", "12345678", ""},
		{IDTaiwan, "１２３４５６７８", "12345678", ""},
		{IDTaiwan, "1234567", "", "expected 8 digits"},
		{IDTaiwan, "123456789", "", "expected 8 digits"},
		{IDTaiwan, "A1234567", "", "expected 8 digits"},
		{IDTaiwan, "12345678(B)", "", "expected 8 digits"},

		// Type errors.
		{"", "11010519491231002X", "", "id_type: is required"},
		{"driving-licence", "11010519491231002X", "", "unknown ID type"},
	}
	for _, tt := range tests {
		got, err := ValidateID(tt.typ, tt.in)
		shown := tt.in
		if len(shown) > 50 {
			shown = shown[:50] + "..."
		}
		if tt.want != "" {
			if err != nil || got != tt.want {
				t.Errorf("ValidateID(%q, %q) = %q, %v; want %q", tt.typ, shown, got, err, tt.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("ValidateID(%q, %q) = %q, nil; want error containing %q", tt.typ, shown, got, tt.errWant)
			continue
		}
		fe := fieldErr(t, err)
		if !strings.Contains(err.Error(), tt.errWant) {
			t.Errorf("ValidateID(%q, %q) error = %v; want it to contain %q", tt.typ, shown, err, tt.errWant)
		}
		if len(fe.Msg) > 200 {
			t.Errorf("ValidateID(%q, %q) error message is %d bytes long: %q", tt.typ, shown, len(fe.Msg), fe.Msg)
		}
		if fe.Msg != strings.ToLower(fe.Msg[:1])+fe.Msg[1:] {
			t.Errorf("ValidateID(%q, %q) error message %q does not start lower-case", tt.typ, shown, fe.Msg)
		}
	}
}

func TestValidateIDRandomValidNumbers(t *testing.T) {
	fixClock(t)
	// A spread of real-structure numbers: every province, varied dates and
	// sequences; each must pass with its computed check character and fail
	// with every other one.
	provinces := []string{"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
		"41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65"}
	dates := []string{"19000101", "19491001", "19720229", "19801231", "20000229", "20120630", "20250615"}
	seq := 0
	for _, p := range provinces {
		for _, d := range dates {
			seq = (seq + 37) % 1000
			first17 := p + "0102" + d + string(rune('0'+seq/100)) + string(rune('0'+seq/10%10)) + string(rune('0'+seq%10))
			good := withCheck(first17)
			if got, err := ValidateID(IDResident, good); err != nil || got != good {
				t.Errorf("ValidateID(%q, %q) = %q, %v; want %q", IDResident, good, got, err, good)
			}
			for _, c := range "0123456789X" {
				n := first17 + string(c)
				if n == good {
					continue
				}
				if _, err := ValidateID(IDResident, n); err == nil {
					t.Errorf("ValidateID(%q, %q) = nil; want check digit error", IDResident, n)
				}
			}
		}
	}
}

func TestBirthDate(t *testing.T) {
	fixClock(t)
	tests := []struct {
		typ    IDType
		in     string
		want   time.Time
		wantOK bool
	}{
		{IDResident, "11010519491231002x", time.Date(1949, 12, 31, 0, 0, 0, 0, time.UTC), true},
		{IDResidencePermit, withCheck("81000020000229001"), time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC), true},
		{IDResident, "110105194912310021", time.Time{}, false},
		{IDPassport, "E12345678", time.Time{}, false},
		{IDTaiwan, "12345678", time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := BirthDate(tt.typ, tt.in)
		if ok != tt.wantOK || !got.Equal(tt.want) {
			t.Errorf("BirthDate(%q, %q) = %v, %v; want %v, %v", tt.typ, tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestParseIDType(t *testing.T) {
	tests := []struct {
		in   string
		want IDType
	}{
		{"resident", IDResident}, {"Resident", IDResident}, {"id-card", IDResident}, {"idcard", IDResident},
		{"ID_CARD", IDResident}, {"身份证", IDResident}, {" 居民身份证 ", IDResident},
		{"passport", IDPassport}, {"护照", IDPassport},
		{"hk-macau", IDHKMacau}, {"HK_Macau", IDHKMacau}, {"回乡证", IDHKMacau},
		{"taiwan", IDTaiwan}, {"台胞证", IDTaiwan},
		{"hmt-residence", IDResidencePermit}, {"residence-permit", IDResidencePermit}, {"港澳台居民居住证", IDResidencePermit},
	}
	for _, tt := range tests {
		if got, err := ParseIDType(tt.in); err != nil || got != tt.want {
			t.Errorf("ParseIDType(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "driver", strings.Repeat("x", 1000)} {
		_, err := ParseIDType(in)
		if err == nil {
			t.Errorf("ParseIDType(%q) = nil error; want error", in)
			continue
		}
		if fe := fieldErr(t, err); fe.Field != "id_type" || len(fe.Msg) > 200 {
			t.Errorf("ParseIDType(%q) error = %v; want a short id_type error", truncate(in, 20), err)
		}
	}
	// Every type parses as itself and has a label.
	for _, typ := range IDTypes {
		if got, err := ParseIDType(string(typ)); err != nil || got != typ {
			t.Errorf("ParseIDType(%q) = %q, %v; want itself", typ, got, err)
		}
		if typ.Label() == "" || typ.Label() == string(typ) {
			t.Errorf("%q.Label() = %q; want an English label", typ, typ.Label())
		}
	}
	if got := IDResident.Label(); got != "Resident identity card" {
		t.Errorf("IDResident.Label() = %q", got)
	}
}

func TestValidateMobile(t *testing.T) {
	tests := []struct {
		in, want string // want "" means an error
	}{
		{"13812345678", "13812345678"},
		{"138 1234 5678", "13812345678"},
		{"138-1234-5678", "13812345678"},
		{"+86 138 1234 5678", "13812345678"},
		{"+86-13812345678", "13812345678"},
		{"008613812345678", "13812345678"},
		{"(+86) 19912345678", "19912345678"},
		{"１３８１２３４５６７８", "13812345678"},
		{"+852 6123 4567", "+85261234567"},
		{"00852-91234567", "+85291234567"},
		{"+85261234567", "+85261234567"},
		{"+853 6612 3456", "+85366123456"},
		{"+886 912 345 678", "+886912345678"},
		{"+886 0912 345 678", "+886912345678"},
		{"+886912345678", "+886912345678"},

		{"", ""},
		{"12812345678", ""},     // second digit 2
		{"1381234567", ""},      // 10 digits
		{"138123456789", ""},    // 12 digits
		{"23812345678", ""},     // not starting with 1
		{"+1 415 555 0100", ""}, // other countries
		{"+852 2123 4567", ""},  // HK fixed line
		{"+852 612345678", ""},
		{"+853 2812 3456", ""}, // Macau fixed line
		{"+886 212345678", ""}, // Taiwan fixed line
		{"61234567", ""},       // HK number without prefix
		{"138abc45678", ""},
		{"+", ""},
		{"13812345678\x00", ""},
		{"\xff13812345678", ""},
		{strings.Repeat("1", 5000), ""},
	}
	for _, tt := range tests {
		got, err := ValidateMobile(tt.in)
		if tt.want != "" {
			if err != nil || got != tt.want {
				t.Errorf("ValidateMobile(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("ValidateMobile(%q) = %q, nil; want error", truncate(tt.in, 40), got)
			continue
		}
		if fe := fieldErr(t, err); fe.Field != "mobile" || len(fe.Msg) > 200 {
			t.Errorf("ValidateMobile(%q) error = %v; want a short mobile error", truncate(tt.in, 40), err)
		}
	}
	if _, err := ValidateMobile(""); err == nil || err.Error() != "mobile: is required" {
		t.Errorf(`ValidateMobile("") = %v; want "mobile: is required"`, err)
	}
}

func TestValidateEmail(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"zhang.san@example.com", "zhang.san@example.com"},
		{"  Zhang.San@Example.COM ", "Zhang.San@example.com"},
		{"a+tag@mail.example.cn", "a+tag@mail.example.cn"},
		{"x_y-z@sub-domain.example.org", "x_y-z@sub-domain.example.org"},
		{strings.Repeat("a", 64) + "@example.com", strings.Repeat("a", 64) + "@example.com"},

		{"", ""},
		{"zhangsan", ""},
		{"zhangsan@", ""},
		{"@example.com", ""},
		{"zhangsan@localhost", ""},
		{"Zhang San <zs@example.com>", ""},
		{"<zs@example.com>", ""},
		{"zs@example.com (work)", ""},
		{`"zhang san"@example.com`, ""},
		{"zs@[192.0.2.1]", ""},
		{"zs@192.0.2.1", ""},
		{"zs@-example.com", ""},
		{"zs@example..com", ""},
		{"zs@exa_mple.com", ""},
		{"zs@@example.com", ""},
		{"a b@example.com", ""},
		{"zs@example.com\n", "zs@example.com"}, // trailing newline is trimmed space
		{"zs\r\n@example.com", ""},
		{"zs\x00@example.com", ""},
		{"张三@example.com", ""},
		{"zs@例子.中国", ""},
		{"zs@example.com\xff", ""},
		{strings.Repeat("a", 65) + "@example.com", ""},
		{"a@" + strings.Repeat("b", 250) + ".com", ""},
		{strings.Repeat("a", 100000), ""},
	}
	for _, tt := range tests {
		got, err := ValidateEmail(tt.in)
		if tt.want != "" {
			if err != nil || got != tt.want {
				t.Errorf("ValidateEmail(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("ValidateEmail(%q) = %q, nil; want error", truncate(tt.in, 60), got)
			continue
		}
		if fe := fieldErr(t, err); fe.Field != "email" || len(fe.Msg) > 200 {
			t.Errorf("ValidateEmail(%q) error = %v; want a short email error", truncate(tt.in, 60), err)
		}
	}
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"张三", "张三"},
		{"  张 三  ", "张 三"},
		{"欧阳娜娜", "欧阳娜娜"},
		{"买买提·艾力", "买买提·艾力"},
		{"买买提•艾力", "买买提·艾力"}, // bullet typed for the middle dot
		{"买买提・艾力", "买买提·艾力"}, // katakana middle dot
		{"José Müller", "José Müller"},
		{"Jose\u0301 Mu\u0308ller", "José Müller"}, // NFD stored as NFC
		{"e\u0301", "é"},
		{"Anne-Marie O'Neil", "Anne-Marie O'Neil"},
		{"Anne-Marie O’Neil", "Anne-Marie O'Neil"},
		{"J. R. R. Tolkien", "J. R. R. Tolkien"},
		{"Nguyễn Văn A", "Nguyễn Văn A"},
		{"Иван Петров", "Иван Петров"},
		{"𠀀𪚥", "𠀀𪚥"}, // CJK extension B characters
		{"Zhang\u3000San", "Zhang San"},
		{"Zhang \t San", "Zhang San"},
		{strings.Repeat("张", 64), strings.Repeat("张", 64)},

		{"", ""},
		{"   ", ""},
		{"\xff\xfe", ""},
		{"张\xe4\xb8", ""},
		{"张三\x00", ""},
		{"张\u200b三", ""},       // zero-width space (Cf)
		{"张\u200d三", ""},       // ZWJ
		{"\u202eabc", ""},      // right-to-left override
		{"Zhang\u00adSan", ""}, // soft hyphen
		{"张三1", ""},
		{"张三!", ""},
		{"张三😀", ""},
		{"\ue000张", ""}, // private use
		{"·张三", ""},
		{"-Zhang", ""},
		{"\u0301e", ""},
		{strings.Repeat("张", 65), ""},
		{strings.Repeat("a", 100000), ""},
	}
	for _, tt := range tests {
		got, err := ValidateName("name", tt.in)
		if tt.want != "" {
			if err != nil || got != tt.want {
				t.Errorf("ValidateName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("ValidateName(%q) = %q, nil; want error", truncate(tt.in, 60), got)
			continue
		}
		if fe := fieldErr(t, err); fe.Field != "name" || len(fe.Msg) > 200 {
			t.Errorf("ValidateName(%q) error = %v; want a short name error", truncate(tt.in, 60), err)
		}
	}
	if _, err := ValidateName("agent_name", "\xff"); err == nil || err.Error() != "agent_name: not valid UTF-8" {
		t.Errorf(`ValidateName("agent_name", "\xff") = %v; want "agent_name: not valid UTF-8"`, err)
	}
	if _, err := ValidateName("name", " "); err == nil || err.Error() != "name: is required" {
		t.Errorf(`ValidateName("name", " ") = %v; want "name: is required"`, err)
	}
}

func TestValidateText(t *testing.T) {
	tests := []struct {
		in       string
		max      int
		required bool
		want     string
		wantErr  bool
	}{
		{"北京市西城区某街1号", 200, true, "北京市西城区某街1号", false},
		{"  Rue de l'E\u0301glise 5  ", 200, true, "Rue de l'Église 5", false},
		{"", 200, false, "", false},
		{"  ", 200, false, "", false},
		{"", 200, true, "", true},
		{"abc", 3, true, "abc", false},
		{"abcd", 3, true, "", true},
		{"东城区", 2, true, "", true},
		{"anything", 0, true, "anything", false},
		{"a\nb", 200, false, "", true},
		{"a\tb", 200, false, "", true},
		{"a\x7fb", 200, false, "", true},
		{"a\u0085b", 200, false, "", true},
		{"a\u202eb", 200, false, "", true},
		{"a\u2028b", 200, false, "", true},
		{"a\ufeffb", 200, false, "", true},
		{"👩\u200d💻", 200, false, "👩\u200d💻", false},
		{"a\xffb", 200, false, "", true},
	}
	for _, tt := range tests {
		got, err := ValidateText("address", tt.in, tt.max, tt.required)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ValidateText(%q, %q, %d, %v) = %q, %v; want %q, error %v", "address", tt.in, tt.max, tt.required, got, err, tt.want, tt.wantErr)
		}
		if err != nil {
			if fe := fieldErr(t, err); fe.Field != "address" {
				t.Errorf("ValidateText(%q) error field = %q; want address", tt.in, fe.Field)
			}
		}
	}
	if _, err := ValidateText("reason", "", 10, true); err == nil || err.Error() != "reason: is required" {
		t.Errorf(`ValidateText("reason", "", 10, true) = %v; want "reason: is required"`, err)
	}
}

func TestApplicantNormalize(t *testing.T) {
	fixClock(t)
	good := Applicant{
		Name:     " 张三 ",
		IDType:   "身份证",
		IDNumber: "11010519491231002x",
		Mobile:   "+86 138-1234-5678",
		Email:    "ZS@Example.com",
		Address:  " 北京市西城区 ",
	}
	want := Applicant{
		Name:     "张三",
		IDType:   IDResident,
		IDNumber: "11010519491231002X",
		Mobile:   "13812345678",
		Email:    "ZS@example.com",
		Address:  "北京市西城区",
	}
	got, err := good.Normalize()
	if err != nil || got != want {
		t.Fatalf("Normalize(%+v) = %+v, %v; want %+v", good, got, err, want)
	}
	if again, err := got.Normalize(); err != nil || again != got {
		t.Errorf("Normalize is not idempotent: %+v, %v", again, err)
	}
	noAddr := good
	noAddr.Address = ""
	if _, err := noAddr.Normalize(); err != nil {
		t.Errorf("Normalize without address: %v; want nil (address is optional)", err)
	}

	tests := []struct {
		mod        func(*Applicant)
		field, msg string
	}{
		{func(a *Applicant) { a.Name = "" }, "name", "is required"},
		{func(a *Applicant) { a.IDType = "" }, "id_type", "is required"},
		{func(a *Applicant) { a.IDNumber = "" }, "id_number", "is required"},
		{func(a *Applicant) { a.Mobile = "" }, "mobile", "is required"},
		{func(a *Applicant) { a.Email = "" }, "email", "is required"},
		{func(a *Applicant) { a.IDType = "visa" }, "id_type", ""},
		{func(a *Applicant) { a.IDNumber = "110105194912310021" }, "id_number", "check digit is 1, expected X (GB 11643-1999)"},
		{func(a *Applicant) { a.Address = strings.Repeat("路", 201) }, "address", ""},
		{func(a *Applicant) { a.Address = "a\nb" }, "address", ""},
		// The first failing field is reported, in declaration order.
		{func(a *Applicant) { a.Name, a.Email = "", "" }, "name", "is required"},
		{func(a *Applicant) { a.Mobile, a.Email = "1", "" }, "mobile", ""},
		{func(a *Applicant) { a.Surname = "张" }, "given_name", "is required with a surname; give both parts of the name, or neither"},
		{func(a *Applicant) { a.Surname, a.GivenName = "李", "四" }, "surname", ""},
		{func(a *Applicant) { a.Surname, a.GivenName, a.IDNumber = "李", "四", "" }, "surname", ""}, // before id_number
	}
	for i, tt := range tests {
		a := good
		tt.mod(&a)
		_, err := a.Normalize()
		if err == nil {
			t.Errorf("case %d: Normalize(%+v) = nil; want %s error", i, a, tt.field)
			continue
		}
		fe := fieldErr(t, err)
		if fe.Field != tt.field || tt.msg != "" && fe.Msg != tt.msg {
			t.Errorf("case %d: Normalize(%+v) = %v; want %s: %s", i, a, err, tt.field, tt.msg)
		}
	}
}

func TestAgentNormalize(t *testing.T) {
	fixClock(t)
	got, err := Agent{Name: "李四", IDNumber: "11010519491231002x"}.Normalize()
	want := Agent{Name: "李四", IDType: IDResident, IDNumber: "11010519491231002X"}
	if err != nil || got != want {
		t.Errorf("Agent.Normalize() = %+v, %v; want %+v", got, err, want)
	}
	got, err = Agent{Name: "Chan Tai Man", IDType: "回乡证", IDNumber: "h12345678"}.Normalize()
	want = Agent{Name: "Chan Tai Man", IDType: IDHKMacau, IDNumber: "H12345678"}
	if err != nil || got != want {
		t.Errorf("Agent.Normalize() = %+v, %v; want %+v", got, err, want)
	}
	tests := []struct {
		a     Agent
		field string
	}{
		{Agent{IDNumber: "11010519491231002X"}, "agent_name"},
		{Agent{Name: "李四", IDType: "visa", IDNumber: "11010519491231002X"}, "agent_id_type"},
		{Agent{Name: "李四", IDNumber: "110105194912310021"}, "agent_id_number"},
		{Agent{Name: "李四"}, "agent_id_number"},
	}
	for _, tt := range tests {
		_, err := tt.a.Normalize()
		if err == nil {
			t.Errorf("Agent%+v.Normalize() = nil; want %s error", tt.a, tt.field)
			continue
		}
		if fe := fieldErr(t, err); fe.Field != tt.field {
			t.Errorf("Agent%+v.Normalize() = %v; want field %s", tt.a, err, tt.field)
		}
	}
}

// TestNameParts: surname and given name are both given or neither, each is
// a name, and together, in either order, they spell the display name.
func TestNameParts(t *testing.T) {
	tests := []struct {
		name, surname, given   string
		wantSurname, wantGiven string
		field                  string // "" = valid
	}{
		{"张三", "", "", "", "", ""},
		{"张三", "  ", "\u3000", "", "", ""}, // blank is empty
		{"张三", "张", "三", "张", "三", ""},
		{"欧阳娜娜", "欧阳", "娜娜", "欧阳", "娜娜", ""},
		{"Anna Schmidt", "Schmidt", "Anna", "Schmidt", "Anna", ""},
		{"ZHANG San", "Zhang", "San", "Zhang", "San", ""}, // case aside
		{"Anna Maria Schmidt", "Schmidt", " Anna  Maria ", "Schmidt", "Anna Maria", ""},
		{"买买提·艾力", "艾力", "买买提", "艾力", "买买提", ""},
		{"𠀀𠀁", "𠀀", "𠀁", "𠀀", "𠀁", ""}, // CJK Extension B
		{"张三", "张", "", "", "", "given_name"},
		{"张三", "", "三", "", "", "surname"},
		{"张三", "李", "三", "", "", "surname"},
		{"张三", "张", "三丰", "", "", "surname"},
		{"Anna Maria Schmidt", "Schmidt", "Anna", "", "", "surname"},
		{"张三", "张1", "三", "", "", "surname"},
		{"张三", "张", "三\u200b", "", "", "given_name"},
		{"张三", "\xff", "三", "", "", "surname"},
	}
	for _, tt := range tests {
		s, g, err := NameParts(tt.name, tt.surname, tt.given)
		if tt.field == "" {
			if err != nil || s != tt.wantSurname || g != tt.wantGiven {
				t.Errorf("NameParts(%q, %q, %q) = %q, %q, %v; want %q, %q", tt.name, tt.surname, tt.given, s, g, err, tt.wantSurname, tt.wantGiven)
			}
			continue
		}
		if fe := fieldErr(t, err); fe.Field != tt.field {
			t.Errorf("NameParts(%q, %q, %q) = %v; want a %s error", tt.name, tt.surname, tt.given, err, tt.field)
		}
	}
}
