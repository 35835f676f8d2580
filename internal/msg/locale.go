package msg

import (
	"fmt"
	"strings"

	"golang.org/x/text/language"
)

// FromEnv picks the language of the POSIX locale: the first set of LC_ALL,
// LC_MESSAGES and LANG. Unset, "C", "POSIX" or any locale but Simplified
// Chinese gives English.
func FromEnv(getenv func(string) string) language.Tag {
	for _, k := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		if v := getenv(k); v != "" {
			t, err := Parse(v)
			if err != nil {
				return English
			}
			return t
		}
	}
	return English
}

// Parse reads a language named by a POSIX locale (zh_CN.UTF-8, zh_SG,
// en_US@euro) or a BCP 47 tag (zh-Hans, zh, en). Simplified Chinese (zh
// written in Han simplified script: zh_CN, zh_SG, zh-Hans, zh) gives
// Chinese; any other well-formed name gives English. A name that is not a
// locale or tag at all is an error (--lang and ui.lang report it).
func Parse(s string) (language.Tag, error) {
	name := strings.TrimSpace(s)
	if i := strings.IndexAny(name, ".@"); i >= 0 {
		name = name[:i] // codeset and modifier: zh_CN.UTF-8, sr_RS@latin
	}
	switch name {
	case "C", "POSIX":
		return English, nil
	case "":
		return English, fmt.Errorf("%q is not a language: use en or zh-Hans (or a locale such as zh_CN.UTF-8)", s)
	}
	t, err := language.Parse(strings.ReplaceAll(name, "_", "-"))
	if err != nil {
		return English, fmt.Errorf("%q is not a language: use en or zh-Hans (or a locale such as zh_CN.UTF-8)", s)
	}
	base, _ := t.Base()
	script, _ := t.Script() // inferred when absent: zh-CN Hans, zh-TW Hant
	if base.String() == "zh" && script.String() == "Hans" {
		return Chinese, nil
	}
	return English, nil
}
