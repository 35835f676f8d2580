package msg

import (
	_ "embed"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// zh-Hans.txt holds the catalogue: entries of "@en " English text, then
// "@zh " its Chinese text, each running until the next @ line (texts may
// span lines). Error codes have their own entries: "@code CODE", then
// "@en " and "@zh " texts with {name} placeholders. Lines starting with
// "@#" are comments.
//
//go:embed zh-Hans.txt
var catalogueFile string

var (
	zhHans = map[string]string{}
	codes  = map[string]codeText{}
)

type codeText struct{ en, zh string }

func init() {
	if err := parseCatalogue(catalogueFile, zhHans, codes); err != nil {
		panic(err) // the embedded file is checked by TestCatalogueParses
	}
}

func parseCatalogue(text string, ids map[string]string, codeTexts map[string]codeText) error {
	var code, en, kind string
	var buf []string
	var n int
	flush := func() error {
		s := strings.TrimSpace(strings.Join(buf, "\n"))
		buf = nil
		switch kind {
		case "en":
			en = s
		case "zh":
			if en == "" {
				return fmt.Errorf("zh-Hans.txt:%d: @zh without @en", n)
			}
			if code != "" {
				codeTexts[code] = codeText{en: en, zh: s}
			} else {
				if _, dup := ids[en]; dup {
					return fmt.Errorf("zh-Hans.txt:%d: %q listed twice", n, en)
				}
				ids[en] = s
			}
			code, en = "", ""
		}
		kind = ""
		return nil
	}
	for i, line := range strings.Split(text, "\n") {
		n = i + 1
		switch {
		case strings.HasPrefix(line, "@#"):
			continue
		case strings.HasPrefix(line, "@code "):
			if err := flush(); err != nil {
				return err
			}
			code = strings.TrimSpace(line[len("@code "):])
		case strings.HasPrefix(line, "@en "), line == "@en":
			if err := flush(); err != nil {
				return err
			}
			kind, buf = "en", []string{strings.TrimPrefix(strings.TrimPrefix(line, "@en"), " ")}
		case strings.HasPrefix(line, "@zh "), line == "@zh":
			if err := flush(); err != nil {
				return err
			}
			kind, buf = "zh", []string{strings.TrimPrefix(strings.TrimPrefix(line, "@zh"), " ")}
		case strings.HasPrefix(line, "@"):
			return fmt.Errorf("zh-Hans.txt:%d: unknown directive %q", n, line)
		default:
			if kind != "" {
				buf = append(buf, line)
			}
		}
	}
	return flush()
}

var placeholder = regexp.MustCompile(`\{[a-z_]+\}`)

// Error renders the message of an error code in the printer's language,
// its {name} placeholders filled from params (a missing one stays as it
// is). ok is false for a code the catalogue does not have.
func (p Printer) Error(code string, params map[string]string) (string, bool) {
	t, ok := codes[code]
	if !ok {
		return "", false
	}
	s := t.en
	if p.zh {
		s = t.zh
	}
	return placeholder.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := params[m[1:len(m)-1]]; ok {
			return v
		}
		return m
	}), true
}

// Codes lists the error codes of the catalogue, sorted.
func Codes() []string {
	out := make([]string, 0, len(codes))
	for c := range codes {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// CodeTexts gives the English and Chinese texts of a code, for tests and
// docs.
func CodeTexts(code string) (en, zh string, ok bool) {
	t, ok := codes[code]
	return t.en, t.zh, ok
}
