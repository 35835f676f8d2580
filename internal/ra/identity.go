package ra

import (
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// IDType is the kind of identity document an applicant or agent presents.
type IDType string

const (
	// IDResident is the resident identity card (居民身份证), an 18-character
	// citizen identification number per GB 11643-1999.
	IDResident IDType = "resident"
	// IDPassport is a passport of any country.
	IDPassport IDType = "passport"
	// IDHKMacau is the mainland travel permit for Hong Kong and Macau
	// residents (港澳居民来往内地通行证, 回乡证).
	IDHKMacau IDType = "hk-macau"
	// IDTaiwan is the mainland travel permit for Taiwan residents
	// (台湾居民来往大陆通行证, 台胞证).
	IDTaiwan IDType = "taiwan"
	// IDResidencePermit is the residence permit for Hong Kong, Macau and
	// Taiwan residents (港澳台居民居住证): GB 11643 structure with the region
	// code 810000, 820000 or 830000.
	IDResidencePermit IDType = "hmt-residence"
)

// IDTypes lists the identity document types in display order.
var IDTypes = []IDType{IDResident, IDPassport, IDHKMacau, IDTaiwan, IDResidencePermit}

// idLabels holds the English labels. Translations will come from the
// message catalog keyed by the IDType; keep every label here.
var idLabels = map[IDType]string{
	IDResident:        "Resident identity card",
	IDPassport:        "Passport",
	IDHKMacau:         "Mainland travel permit for Hong Kong and Macau residents",
	IDTaiwan:          "Mainland travel permit for Taiwan residents",
	IDResidencePermit: "Residence permit for Hong Kong, Macau and Taiwan residents",
}

// Label is the English name of the document type (the type itself when it
// is unknown).
func (t IDType) Label() string {
	if l, ok := idLabels[t]; ok {
		return l
	}
	return string(t)
}

// idAliases maps lower-cased spellings, with '_' and ' ' read as '-', to
// types.
var idAliases = map[string]IDType{
	"resident": IDResident, "id-card": IDResident, "idcard": IDResident, "id": IDResident,
	"resident-id": IDResident, "身份证": IDResident, "居民身份证": IDResident,
	"passport": IDPassport, "护照": IDPassport,
	"hk-macau": IDHKMacau, "hkmacau": IDHKMacau, "hk-macao": IDHKMacau, "hongkong-macau": IDHKMacau,
	"港澳通行证": IDHKMacau, "回乡证": IDHKMacau, "港澳居民来往内地通行证": IDHKMacau,
	"taiwan": IDTaiwan, "tw": IDTaiwan, "台胞证": IDTaiwan, "台湾居民来往大陆通行证": IDTaiwan,
	"hmt-residence": IDResidencePermit, "residence-permit": IDResidencePermit, "hmt-residence-permit": IDResidencePermit,
	"居住证": IDResidencePermit, "港澳台居民居住证": IDResidencePermit,
}

// ParseIDType accepts a type name in any case or one of its common aliases
// ("id-card", "idcard", "身份证", "护照", "回乡证", "台胞证", "居住证", ...).
func ParseIDType(s string) (IDType, error) {
	k := strings.ToLower(strings.TrimSpace(s))
	k = strings.NewReplacer("_", "-", " ", "-").Replace(k)
	if k == "" {
		return "", Fieldf("id_type", "is required")
	}
	if t, ok := idAliases[k]; ok {
		return t, nil
	}
	return "", Fieldf("id_type", "unknown ID type %q; use one of %s", truncate(s, 40), idTypeList())
}

func idTypeList() string {
	names := make([]string, len(IDTypes))
	for i, t := range IDTypes {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// now is the clock used to reject birth dates in the future; tests replace it.
var now = time.Now

// chinaTime is UTC+8, the zone the birth dates on Chinese documents are in.
// A fixed zone avoids depending on the tzdata database.
var chinaTime = time.FixedZone("CST", 8*60*60)

// mapFullWidth turns full-width ASCII variants (U+FF01..U+FF5E), as typed
// with a Chinese input method, into ASCII, and the ideographic space into a
// space.
func mapFullWidth(r rune) rune {
	switch {
	case r >= 0xFF01 && r <= 0xFF5E:
		return r - 0xFF01 + '!'
	case r == '\u3000':
		return ' '
	}
	return r
}

// compactID maps full-width characters, removes spaces (typed to group
// digits) and upper-cases ASCII letters.
func compactID(s string) string {
	var b strings.Builder
	for _, r := range s {
		r = mapFullWidth(r)
		switch {
		case r == ' ' || r == '\t':
			continue
		case r >= 'a' && r <= 'z':
			r -= 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func idErr(format string, args ...any) error {
	return &FieldError{Field: "id_number", Msg: fmt.Sprintf(format, args...), Format: format, Args: args}
}

// ValidateID checks an identity document number against the structure of
// its type and returns it normalised: surrounding and grouping spaces
// removed, full-width characters made ASCII, letters upper-cased. What each
// type accepts:
//
//   - resident: 18 characters per GB 11643-1999 — a 6-digit region code
//     whose first two digits are a mainland province-level code of
//     GB/T 2260 (11–65), a birth date YYYYMMDD that exists, is not before
//     1900 and not in the future (China time), a 3-digit sequence and an
//     ISO 7064 MOD 11-2 check digit ('X' for 10). The 15-digit first
//     generation cards are refused: they ceased to be valid on 2013-01-01.
//     Numbers starting 81/82/83 are residence permits and are refused
//     with a hint to use hmt-residence.
//   - hmt-residence: the same structure with region code 810000 (Hong Kong),
//     820000 (Macau) or 830000 (Taiwan) (港澳台居民居住证申领发放办法, 2018).
//   - passport: 5 to 20 ASCII letters and digits. Passport numbers of
//     other countries have no common structure to check beyond that.
//   - hk-macau: 'H' (Hong Kong) or 'M' (Macau) followed by 8 digits, the
//     holder's lifelong number. The cards issued 1999–2012 printed 10 digits,
//     the lifelong number and a 2-digit renewal count (公安部出入境管理局,
//     港澳居民来往内地通行证号码规则, 2010-03-10); since 2013 the count is
//     printed separately. An 11-character number is accepted and
//     normalised to its first 9 characters so a person has one number.
//   - taiwan: 8 digits, the lifelong number (一人一号、终身不变 since
//     2008-09-25, and on the card permits since 2015). Older booklets
//     printed the lifelong number, a 2-digit issue count and a bracketed
//     issuing-office code, e.g. 1234567801(B) (中新网, 2008-09-12). A 10-digit
//     number, with or without the bracketed code, is accepted and
//     normalised to its first 8 digits.
func ValidateID(t IDType, number string) (string, error) {
	if !utf8.ValidString(number) {
		return "", idErr("not valid UTF-8")
	}
	s := compactID(number)
	if s == "" {
		return "", idErr("is required")
	}
	switch t {
	case IDResident, IDResidencePermit:
		return validateGB11643(t, s)
	case IDPassport:
		return validatePassport(s)
	case IDHKMacau:
		return validateHKMacau(s)
	case IDTaiwan:
		return validateTaiwan(s)
	case "":
		return "", Fieldf("id_type", "is required")
	}
	return "", Fieldf("id_type", "unknown ID type %q; use one of %s", truncate(string(t), 40), idTypeList())
}

// provinceCodes are the first two digits of the province-level divisions
// of the mainland in GB/T 2260 (71 Taiwan, 81 Hong Kong and 82 Macau are
// listed there too but no resident identity card carries them).
var provinceCodes = map[string]bool{
	"11": true, "12": true, "13": true, "14": true, "15": true,
	"21": true, "22": true, "23": true,
	"31": true, "32": true, "33": true, "34": true, "35": true, "36": true, "37": true,
	"41": true, "42": true, "43": true, "44": true, "45": true, "46": true,
	"50": true, "51": true, "52": true, "53": true, "54": true,
	"61": true, "62": true, "63": true, "64": true, "65": true,
}

// residencePermitRegions are the region codes of 港澳台居民居住证 numbers.
var residencePermitRegions = map[string]string{
	"810000": "Hong Kong", "820000": "Macau", "830000": "Taiwan",
}

// gbWeights are 2^(17-i) mod 11 for the first 17 positions (GB 11643-1999).
var gbWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// gbCheckDigit computes the ISO 7064 MOD 11-2 check character of 17 digits.
func gbCheckDigit(first17 string) byte {
	sum := 0
	for i := 0; i < 17; i++ {
		sum += int(first17[i]-'0') * gbWeights[i]
	}
	return "10X98765432"[sum%11]
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func validateGB11643(t IDType, s string) (string, error) {
	n := utf8.RuneCountInString(s)
	if n == 15 && isDigits(s) && t == IDResident {
		return "", idErr("15-digit first-generation identity cards are no longer valid (since 2013-01-01); enter the 18-character number of the current card")
	}
	if n != 18 {
		return "", idErr("must be 18 characters (GB 11643-1999), got %d", n)
	}
	pos := 0
	for _, r := range s {
		pos++
		switch {
		case r >= '0' && r <= '9':
		case pos == 18 && r == 'X':
		case pos == 18:
			return "", idErr("character 18 is %q; expected a digit or X", r)
		default:
			return "", idErr("character %d is %q; the first 17 characters must be digits", pos, r)
		}
	}
	// From here s is 18 ASCII bytes.
	region := s[:6]
	if t == IDResidencePermit {
		if _, ok := residencePermitRegions[region]; !ok {
			return "", idErr("region code %s is not a residence permit code; expected 810000 (Hong Kong), 820000 (Macau) or 830000 (Taiwan)", region)
		}
	} else {
		if _, ok := residencePermitRegions[region]; ok {
			return "", idErr("region code %s is that of a residence permit for Hong Kong, Macau and Taiwan residents; use ID type %s", region, IDResidencePermit)
		}
		if region[0] == '0' || !provinceCodes[region[:2]] {
			return "", idErr("region code %s does not start with a mainland province code (GB/T 2260: 11-65)", region)
		}
	}
	if _, err := birthDate(s[6:14]); err != nil {
		return "", err
	}
	if want := gbCheckDigit(s[:17]); s[17] != want {
		return "", idErr("check digit is %c, expected %c (GB 11643-1999)", s[17], want)
	}
	return s, nil
}

// birthDate parses and checks a YYYYMMDD birth date.
func birthDate(d string) (time.Time, error) {
	y, m, day := atoi(d[:4]), atoi(d[4:6]), atoi(d[6:8])
	bd := time.Date(y, time.Month(m), day, 0, 0, 0, 0, time.UTC)
	if m < 1 || m > 12 || bd.Day() != day || int(bd.Month()) != m {
		return time.Time{}, idErr("birth date %s does not exist", d)
	}
	if y < 1900 {
		return time.Time{}, idErr("birth date %s is before 1900", d)
	}
	ty, tm, td := now().In(chinaTime).Date()
	if bd.After(time.Date(ty, tm, td, 0, 0, 0, 0, time.UTC)) {
		return time.Time{}, idErr("birth date %s is in the future", d)
	}
	return bd, nil
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

func isUpperAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func validatePassport(s string) (string, error) {
	if !isUpperAlnum(s) {
		return "", idErr("%q contains characters other than letters and digits; enter the passport number without punctuation", truncate(s, 40))
	}
	if len(s) < 5 || len(s) > 20 {
		return "", idErr("passport number must be 5 to 20 letters and digits, got %d", len(s))
	}
	return s, nil
}

func validateHKMacau(s string) (string, error) {
	if s[0] != 'H' && s[0] != 'M' {
		return "", idErr("must start with H (Hong Kong) or M (Macau) followed by 8 digits, e.g. H12345678")
	}
	rest := s[1:]
	if !isDigits(rest) || len(rest) != 8 && len(rest) != 10 {
		return "", idErr("%q: expected H or M followed by 8 digits (or 10 on cards issued before 2013)", truncate(s, 40))
	}
	return s[:9], nil // drop the renewal count of pre-2013 numbers
}

func validateTaiwan(s string) (string, error) {
	// Older booklets: 10 digits and a bracketed one-character office code.
	if len(s) == 13 && (s[10] == '(' && s[12] == ')') && isUpperAlnum(s[11:12]) {
		s = s[:10]
	}
	if !isDigits(s) || len(s) != 8 && len(s) != 10 {
		return "", idErr("%q: expected 8 digits (older permits: 10 digits, optionally followed by a bracketed office code)", truncate(s, 40))
	}
	return s[:8], nil // the lifelong number
}

// BirthDate returns the birth date encoded in a valid resident identity
// card or residence permit number, as midnight UTC of that day. ok is false
// for other types and invalid numbers.
func BirthDate(t IDType, number string) (time.Time, bool) {
	if t != IDResident && t != IDResidencePermit {
		return time.Time{}, false
	}
	n, err := ValidateID(t, number)
	if err != nil {
		return time.Time{}, false
	}
	bd, err := birthDate(n[6:14])
	return bd, err == nil
}

// ValidateMobile checks a mobile number that can receive SMS and returns
// it normalised. Spaces, dashes, dots and brackets are removed and
// full-width digits made ASCII.
//
//   - Mainland China: 11 digits 1[3-9]xxxxxxxxx, optionally written with
//     +86 or 0086; normalised without prefix ("13812345678").
//   - Hong Kong: +852 (or 00852) and 8 digits starting 4-9 (mobile ranges
//     of the HK numbering plan; 2 and 3 are fixed lines) -> "+852XXXXXXXX".
//   - Macau: +853 and 8 digits starting 6 -> "+853XXXXXXXX".
//   - Taiwan: +886 and 9 digits starting 9 (a trunk 0 after +886 is
//     dropped) -> "+886XXXXXXXXX".
func ValidateMobile(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", Fieldf("mobile", "not valid UTF-8")
	}
	var b strings.Builder
	for _, r := range s {
		r = mapFullWidth(r)
		switch r {
		case ' ', '\t', '-', '.', '(', ')':
			continue
		}
		b.WriteRune(r)
	}
	d := b.String()
	bad := func(msg string) (string, error) {
		return "", &FieldError{Field: "mobile", Msg: msg, Format: msg}
	}
	if d == "" {
		return bad("is required")
	}
	cc := ""
	switch {
	case strings.HasPrefix(d, "+"):
		d = d[1:]
	case strings.HasPrefix(d, "00"):
		d = d[2:]
	default:
		cc = "86"
	}
	if !isDigits(d) {
		return bad(fmt.Sprintf("%q: expected digits, e.g. 13812345678 or +852 61234567", truncate(s, 40)))
	}
	if cc == "" {
		for _, c := range []string{"86", "852", "853", "886"} {
			if strings.HasPrefix(d, c) {
				cc, d = c, d[len(c):]
				break
			}
		}
		if cc == "" {
			return bad("only mainland China, Hong Kong (+852), Macau (+853) and Taiwan (+886) mobile numbers are accepted")
		}
	}
	switch cc {
	case "86":
		if len(d) != 11 || d[0] != '1' || d[1] < '3' {
			if len(d) == 8 {
				return bad("expected 11 digits starting 13-19; for a Hong Kong or Macau number add +852 or +853")
			}
			return bad(fmt.Sprintf("expected a mainland mobile number of 11 digits starting 13-19, got %d digits", len(d)))
		}
		return d, nil
	case "852":
		if len(d) != 8 || d[0] < '4' {
			return bad("expected a Hong Kong mobile number: +852 and 8 digits starting 4-9")
		}
	case "853":
		if len(d) != 8 || d[0] != '6' {
			return bad("expected a Macau mobile number: +853 and 8 digits starting 6")
		}
	case "886":
		if len(d) == 10 && d[0] == '0' {
			d = d[1:]
		}
		if len(d) != 9 || d[0] != '9' {
			return bad("expected a Taiwan mobile number: +886 and 9 digits starting 9")
		}
	}
	return "+" + cc + d, nil
}

// maxEmail is the longest address that fits an SMTP path (RFC 5321 4.5.3.1.3).
const maxEmail = 254

// ValidateEmail checks a bare e-mail address (addr-spec of RFC 5322: no
// display name, comment or angle brackets) and returns it with the domain
// lower-cased. Only ASCII addresses are accepted: certificates carry the
// address as an IA5String rfc822Name (RFC 5280 4.2.1.6). Quoted local
// parts and domain literals are refused; the domain needs at least two
// labels of letters, digits and hyphens.
func ValidateEmail(s string) (string, error) {
	bad := func(format string, args ...any) (string, error) {
		return "", &FieldError{Field: "email", Msg: fmt.Sprintf(format, args...), Format: format, Args: args}
	}
	if !utf8.ValidString(s) {
		return bad("not valid UTF-8")
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return bad("is required")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return bad("contains a control character")
		}
		if r >= 0x80 {
			return bad("%q contains non-ASCII characters; enter an ASCII address (certificates carry e-mail addresses in ASCII)", truncate(s, 40))
		}
	}
	if len(s) > maxEmail {
		return bad("is %d characters long; at most %d allowed", len(s), maxEmail)
	}
	if strings.ContainsAny(s, "<>") {
		return bad("enter the bare address like name@example.com, without a name or angle brackets")
	}
	addr, err := mail.ParseAddress(s)
	if err != nil {
		return bad("%q is not a valid e-mail address; expected name@example.com", truncate(s, 40))
	}
	if addr.Name != "" || addr.Address != s {
		return bad("enter the bare address like name@example.com, without a name, comment or quotes")
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], s[at+1:]
	if len(local) > 64 {
		return bad("the part before @ is %d characters long; at most 64 allowed", len(local))
	}
	if err := checkDomain(domain); err != "" {
		return bad("domain %q %s", truncate(domain, 40), err)
	}
	return local + "@" + strings.ToLower(domain), nil
}

func checkDomain(d string) string {
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return "needs at least one dot, e.g. example.com"
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return "has an empty or over-long label"
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return "has a label starting or ending with a hyphen"
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return "may contain only letters, digits, hyphens and dots"
			}
		}
	}
	if isDigits(labels[len(labels)-1]) {
		return "must end in a top-level domain, not a number"
	}
	return ""
}

// maxName is the longest person name accepted, in runes.
const maxName = 64

// nameDots are the characters typed for the middle dot that separates the
// parts of transliterated names (e.g. 买买提·艾力); they are stored as
// U+00B7, the character the public security standards use.
var nameDots = strings.NewReplacer(
	"\u2022", "·", // • bullet
	"\u2027", "·", // ‧ hyphenation point
	"\u2219", "·", // ∙ bullet operator
	"\u22C5", "·", // ⋅ dot operator
	"\u30FB", "·", // ・ katakana middle dot
	"\uFF65", "·", // ･ half-width katakana middle dot
	"\u2019", "'", // ’ typographic apostrophe
	"\uFF0E", ".", // ． full-width full stop
	"\uFF0D", "-", // － full-width hyphen-minus
	"\u3000", " ", // ideographic space
)

// ValidateName checks a person's name and returns it normalised: NFC, the
// middle-dot and apostrophe variants above unified, runs of spaces
// collapsed to one, surrounding spaces trimmed. The name must be valid
// UTF-8, 1 to 64 characters, start with a letter, and consist of letters
// of any script (CJK, Latin with accents, Cyrillic, ...), combining marks
// following a letter, spaces, middle dot '·', hyphen, apostrophe and
// period. Refused: digits, symbols, private-use characters, control
// characters (Cc) and all format characters (Cf) — bidi controls, soft
// hyphen, zero-width space, and also ZWJ/ZWNJ: the scripts they matter for
// (Indic, Arabic, emoji sequences) do not need them to spell a name, and
// invisible characters make two equal-looking names differ.
func ValidateName(field, s string) (string, error) {
	bad := func(format string, args ...any) (string, error) {
		return "", &FieldError{Field: field, Msg: fmt.Sprintf(format, args...), Format: format, Args: args}
	}
	if !utf8.ValidString(s) {
		return bad("not valid UTF-8")
	}
	s = collapseSpaces(norm.NFC.String(nameDots.Replace(s)))
	if s == "" {
		return bad("is required")
	}
	prev := rune(-1)
	for i, r := range s {
		switch {
		case unicode.IsLetter(r):
		case unicode.In(r, unicode.Mn, unicode.Mc, unicode.Me):
			if prev < 0 || !(unicode.IsLetter(prev) || unicode.In(prev, unicode.Mn, unicode.Mc, unicode.Me)) {
				return bad("has a combining mark that does not follow a letter")
			}
		case r == ' ' || r == '·' || r == '-' || r == '\'' || r == '.':
			if i == 0 {
				return bad("must start with a letter")
			}
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			return bad("contains the control or format character %U", r)
		case unicode.IsDigit(r) || unicode.IsNumber(r):
			return bad("contains the digit %q; a name has letters only", r)
		default:
			return bad("contains %q (%U); a name may contain letters, spaces, '·', '-', '\\'' and '.'", r, r)
		}
		prev = r
	}
	if n := utf8.RuneCountInString(s); n > maxName {
		return bad("is %d characters long; at most %d allowed", n, maxName)
	}
	return s, nil
}

// ValidateNamePart checks a surname or given name on its own: empty is
// allowed (the parts are optional), anything else follows ValidateName.
func ValidateNamePart(field, s string) (string, error) {
	if strings.TrimSpace(s) == "" && utf8.ValidString(s) {
		return "", nil
	}
	return ValidateName(field, s)
}

// NameParts checks the surname (姓) and given name (名) against the
// display name and returns them normalised. The rule:
//
//   - both or neither: a name given whole (a single name, or one the
//     applicant does not split) has no parts;
//   - each part is a name of its own (ValidateName);
//   - together they make the name, in either order, joined by nothing
//     (张三 = 张 + 三), a space (Anna Schmidt = Anna + Schmidt, or
//     ZHANG San) or the middle dot (买买提·艾力), letter case aside. So a
//     part cannot disagree with the name on the ID document.
func NameParts(name, surname, given string) (string, string, error) {
	var err error
	if surname, err = ValidateNamePart("surname", surname); err != nil {
		return "", "", err
	}
	if given, err = ValidateNamePart("given_name", given); err != nil {
		return "", "", err
	}
	field := "surname"
	bad := func(format string, args ...any) (string, string, error) {
		return "", "", &FieldError{Field: field, Msg: fmt.Sprintf(format, args...), Format: format, Args: args}
	}
	switch {
	case surname == "" && given == "":
		return "", "", nil
	case surname == "":
		return bad("is required with a given name; give both parts of the name, or neither")
	case given == "":
		field = "given_name"
		return bad("is required with a surname; give both parts of the name, or neither")
	case !namePartsMake(name, surname, given):
		return bad("the surname %q and the given name %q do not make the name %q; together, in either order, they must spell it (张 + 三 = 张三, Schmidt + Anna = Anna Schmidt)",
			truncate(surname, 40), truncate(given, 40), truncate(name, 70))
	}
	return surname, given, nil
}

// namePartsMake reports whether surname and given name joined in either
// order, by nothing, a space or '·', spell name (ignoring letter case).
func namePartsMake(name, surname, given string) bool {
	for _, sep := range []string{"", " ", "·"} {
		if strings.EqualFold(name, surname+sep+given) || strings.EqualFold(name, given+sep+surname) {
			return true
		}
	}
	return false
}

// collapseSpaces trims s and replaces every run of white space inside it
// with one ASCII space.
func collapseSpaces(s string) string {
	return strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
}

// ValidateText checks free text (an address, a reason, a comment) and
// returns it NFC-normalised and trimmed. It must be valid UTF-8 and at most
// max characters (runes; max <= 0 means no limit). It is a single line: no
// control characters at all (tab and newline included), no line or
// paragraph separators, and no format characters except ZWNJ and ZWJ
// (U+200C, U+200D), which some scripts and emoji need; bidi controls, which
// can make displayed text lie about its content, are refused. Empty text is
// an error only when required.
func ValidateText(field, s string, max int, required bool) (string, error) {
	bad := func(format string, args ...any) (string, error) {
		return "", &FieldError{Field: field, Msg: fmt.Sprintf(format, args...), Format: format, Args: args}
	}
	if !utf8.ValidString(s) {
		return bad("not valid UTF-8")
	}
	s = strings.TrimSpace(norm.NFC.String(s))
	if s == "" {
		if required {
			return bad("is required")
		}
		return "", nil
	}
	for _, r := range s {
		switch {
		case r == '\u200C' || r == '\u200D':
		case unicode.IsControl(r):
			return bad("contains the control character %U; enter a single line of text", r)
		case unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029':
			return bad("contains the invisible format character %U", r)
		}
	}
	if n := utf8.RuneCountInString(s); max > 0 && n > max {
		return bad("is %d characters long; at most %d allowed", n, max)
	}
	return s, nil
}

// maxAddress is the longest postal address accepted, in runes.
const maxAddress = 200

// Applicant is the person a certificate is for (申请人).
type Applicant struct {
	// Name is the display name as the applicant writes it on the form and
	// as the ID document shows it: the certificate's commonName.
	Name string `json:"name" yaml:"name"`
	// Surname (姓) and GivenName (名) are the parts of Name, both or
	// neither (NameParts): an S/MIME certificate carries them as surname
	// and givenName. Empty for a name given whole, and for applications
	// stored before schema version 11.
	Surname   string `json:"surname,omitempty" yaml:"surname,omitempty"`
	GivenName string `json:"given_name,omitempty" yaml:"given_name,omitempty"`
	IDType    IDType `json:"id_type" yaml:"id_type"`
	IDNumber  string `json:"id_number,omitempty" yaml:"id_number"`
	Mobile    string `json:"mobile,omitempty" yaml:"mobile"`
	Email     string `json:"email" yaml:"email"`
	Address   string `json:"address,omitempty" yaml:"address,omitempty"`
}

// Normalize validates every field and returns the normalised copy, or the
// first *FieldError in field order (name, surname, given_name, id_type,
// id_number, mobile, email, address). All but the name parts and address
// are required; id_type accepts the aliases of ParseIDType.
func (a Applicant) Normalize() (Applicant, error) {
	var err error
	if a.Name, err = ValidateName("name", a.Name); err != nil {
		return Applicant{}, err
	}
	if a.Surname, a.GivenName, err = NameParts(a.Name, a.Surname, a.GivenName); err != nil {
		return Applicant{}, err
	}
	if a.IDType, err = ParseIDType(string(a.IDType)); err != nil {
		return Applicant{}, err
	}
	if a.IDNumber, err = ValidateID(a.IDType, a.IDNumber); err != nil {
		return Applicant{}, err
	}
	if a.Mobile, err = ValidateMobile(a.Mobile); err != nil {
		return Applicant{}, err
	}
	if a.Email, err = ValidateEmail(a.Email); err != nil {
		return Applicant{}, err
	}
	if a.Address, err = ValidateText("address", a.Address, maxAddress, false); err != nil {
		return Applicant{}, err
	}
	return a, nil
}

// Agent is the person who applies on the applicant's behalf (经办人).
type Agent struct {
	Name     string `json:"name" yaml:"name"`
	IDType   IDType `json:"id_type" yaml:"id_type"`
	IDNumber string `json:"id_number,omitempty" yaml:"id_number"`
}

// Normalize validates the agent and returns the normalised copy, or the
// first *FieldError (agent_name, agent_id_type, agent_id_number). An empty
// ID type means a resident identity card.
func (a Agent) Normalize() (Agent, error) {
	var err error
	if a.Name, err = ValidateName("agent_name", a.Name); err != nil {
		return Agent{}, err
	}
	if strings.TrimSpace(string(a.IDType)) == "" {
		a.IDType = IDResident
	}
	if a.IDType, err = ParseIDType(string(a.IDType)); err != nil {
		return Agent{}, prefixField(err, "agent_")
	}
	if a.IDNumber, err = ValidateID(a.IDType, a.IDNumber); err != nil {
		return Agent{}, prefixField(err, "agent_")
	}
	return a, nil
}

// prefixField returns a copy of a *FieldError with its field name prefixed.
func prefixField(err error, prefix string) error {
	if fe, ok := err.(*FieldError); ok {
		return &FieldError{Field: prefix + fe.Field, Msg: fe.Msg}
	}
	return err
}

// Masked returns a copy for showing a returning applicant what is on
// record without disclosing it: 张*, 138****8000, z***@example.com,
// 北京市***. The ID type and number are the caller's own input and stay.
func (a Applicant) Masked() Applicant {
	a.Name = MaskText(a.Name, 1)
	a.Surname = MaskText(a.Surname, 1)
	a.GivenName = MaskText(a.GivenName, 0)
	a.Mobile = MaskMobile(a.Mobile)
	a.Email = MaskEmail(a.Email)
	a.Address = MaskText(a.Address, 3)
	return a
}

// MaskMobile keeps the first three and last four digits: 138****8000.
func MaskMobile(s string) string {
	r := []rune(s)
	if len(r) < 8 {
		return strings.Repeat("*", len(r))
	}
	return string(r[:3]) + strings.Repeat("*", len(r)-7) + string(r[len(r)-4:])
}

// MaskEmail keeps the first character of the local part and the domain:
// z***@example.com.
func MaskEmail(s string) string {
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" {
		return MaskText(s, 1)
	}
	return string([]rune(local)[:1]) + "***@" + domain
}

// MaskText keeps the first keep characters and replaces the rest: 张*.
func MaskText(s string, keep int) string {
	r := []rune(s)
	if len(r) <= keep {
		if len(r) <= 1 {
			return s
		}
		keep = 1
	}
	if len(r) > keep+3 {
		return string(r[:keep]) + "***"
	}
	return string(r[:keep]) + strings.Repeat("*", len(r)-keep)
}
