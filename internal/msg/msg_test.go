package msg

import (
	"errors"
	"regexp"
	"slices"
	"sort"
	"testing"

	"golang.org/x/text/language"
)

func TestFromEnv(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want language.Tag
	}{
		{nil, English},
		{map[string]string{"LANG": "zh_CN.UTF-8"}, Chinese},
		{map[string]string{"LANG": "zh_SG.UTF-8"}, Chinese},
		{map[string]string{"LANG": "zh_CN.GB18030"}, Chinese},
		{map[string]string{"LANG": "zh"}, Chinese},
		{map[string]string{"LANG": "zh-Hans"}, Chinese},
		{map[string]string{"LANG": "zh_TW.UTF-8"}, English},
		{map[string]string{"LANG": "zh_HK.UTF-8"}, English},
		{map[string]string{"LANG": "fr_FR.UTF-8"}, English},
		{map[string]string{"LANG": "C.UTF-8"}, English},
		{map[string]string{"LANG": "POSIX"}, English},
		{map[string]string{"LANG": "!!"}, English},
		// POSIX order: LC_ALL, then LC_MESSAGES, then LANG.
		{map[string]string{"LC_ALL": "en_US.UTF-8", "LC_MESSAGES": "zh_CN.UTF-8", "LANG": "zh_CN.UTF-8"}, English},
		{map[string]string{"LC_MESSAGES": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}, Chinese},
		{map[string]string{"LC_MESSAGES": "C", "LANG": "zh_CN.UTF-8"}, English},
		{map[string]string{"LC_ALL": "zh_CN.UTF-8", "LANG": "C"}, Chinese},
		{map[string]string{"LC_ALL": "", "LANG": "zh_CN.UTF-8"}, Chinese},
	}
	for _, tt := range tests {
		if got := FromEnv(func(k string) string { return tt.env[k] }); got != tt.want {
			t.Errorf("FromEnv(%v) = %v; want %v", tt.env, got, tt.want)
		}
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    language.Tag
		wantErr bool
	}{
		{"en", English, false},
		{"zh-Hans", Chinese, false},
		{"zh-hans", Chinese, false},
		{"zh_CN", Chinese, false},
		{"zh-SG", Chinese, false},
		{"zh-Hant", English, false},
		{"de", English, false},
		{"", English, true},
		{"chinese!", English, true},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("Parse(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

var verb = regexp.MustCompile(`%(\[\d+\])?[-+# 0]*(\*|\d+)?(\.(\*|\d+)?)?[a-zA-Z%]`)

// TestVerbsMatch fails when a Chinese text has other fmt verbs, or the
// same verbs in another order, than its English ID: the arguments would be
// printed wrong (or as %!s(MISSING)).
func TestVerbsMatch(t *testing.T) {
	for en, zh := range zhHans {
		if zh == "" {
			t.Errorf("%q: empty zh-Hans text", en)
			continue
		}
		if a, b := verb.FindAllString(en, -1), verb.FindAllString(zh, -1); !slices.Equal(a, b) {
			t.Errorf("%q: verbs %q in English, %q in zh-Hans %q", en, a, b, zh)
		}
	}
}

// TestCodePlaceholdersMatch: an error code's two texts use the same
// {name} parameters.
func TestCodePlaceholdersMatch(t *testing.T) {
	for code, tx := range codes {
		a, b := placeholder.FindAllString(tx.en, -1), placeholder.FindAllString(tx.zh, -1)
		sort.Strings(a)
		sort.Strings(b)
		a, b = slices.Compact(a), slices.Compact(b)
		if !slices.Equal(a, b) || tx.zh == "" {
			t.Errorf("code %s: parameters %q in English, %q in zh-Hans", code, a, b)
		}
	}
}

func TestPrinter(t *testing.T) {
	zh := For(Chinese)
	if got := zh.Sprintf("Run '%s --help' for usage.\n", "cmca x"); got != "运行 'cmca x --help' 查看用法。\n" {
		t.Errorf("zh Sprintf = %q", got)
	}
	if got := For(English).Sprintf("Run '%s --help' for usage.\n", "cmca x"); got != "Run 'cmca x --help' for usage.\n" {
		t.Errorf("en Sprintf = %q", got)
	}
	if got := zh.Sprintf("read %s: %w", "x.pem", errors.New("not found")); got != "读取 x.pem：not found" {
		t.Errorf("zh Sprintf with %%w = %q", got)
	}
	if got := zh.T("no such message"); got != "no such message" {
		t.Errorf("zh T of an unknown ID = %q; want it unchanged", got)
	}
	got, ok := zh.Error("passcode.wrong", map[string]string{"ref": "R1", "attempts_left": "2"})
	if !ok || got != "业务受理号 R1 的下载授权码错误（还可尝试 2 次）；请核对申请受理点提供的下载授权码" {
		t.Errorf("zh Error = %q, %v", got, ok)
	}
}

func TestCatalogueParses(t *testing.T) {
	ids, cs := map[string]string{}, map[string]codeText{}
	if err := parseCatalogue(catalogueFile, ids, cs); err != nil {
		t.Fatal(err)
	}
	if err := parseCatalogue("@en a\n@zh 甲\n@en a\n@zh 乙\n", map[string]string{}, map[string]codeText{}); err == nil {
		t.Error("a duplicate ID parsed without error")
	}
	if err := parseCatalogue("@zh 甲\n", map[string]string{}, map[string]codeText{}); err == nil {
		t.Error("@zh without @en parsed without error")
	}
}
