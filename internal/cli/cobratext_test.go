package cli

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cmca/cmca/internal/msg"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/spf13/cobra"
)

// TestFlagErrorsChinese: cobra's and pflag's errors keep their English
// text exactly, are usage errors (exit 2), and read in Chinese with their
// details (the flag, the value) kept.
func TestFlagErrorsChinese(t *testing.T) {
	tests := []struct {
		args    []string
		english string
		chinese string
	}{
		{[]string{"status", "--bogus"}, "unknown flag: --bogus", "用法错误：未知参数：--bogus"},
		{[]string{"status", "-x"}, "unknown shorthand flag: 'x' in -x", "用法错误：未知短参数：'x'（在 -x 中）"},
		{[]string{"apply", "--id-type"}, "flag needs an argument: --id-type", "用法错误：参数需要一个值：--id-type"},
		{[]string{"status", "-o"}, "flag needs an argument: 'o' in -o", "用法错误：参数需要一个值：'o'（在 -o 中）"},
		{[]string{"certs", "--limit", "abc"}, `invalid argument "abc" for "--limit" flag: strconv.ParseInt: parsing "abc": invalid syntax`, `用法错误：值 "abc" 对参数 "--limit" 无效：不是数字`},
		{[]string{"certs", "--limit", "99999999999999999999"}, `invalid argument "99999999999999999999" for "--limit" flag: strconv.ParseInt: parsing "99999999999999999999": value out of range`, `用法错误：值 "99999999999999999999" 对参数 "--limit" 无效：超出范围`},
		{[]string{"frob"}, `unknown command "frob" for "cmca"`, `用法错误："frob" 不是 "cmca" 的命令`},
		{[]string{"agreement", "x"}, `unknown command "x" for "cmca agreement"`, `用法错误："x" 不是 "cmca agreement" 的命令`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			for _, lang := range []struct {
				tag  msg.Printer
				want string
			}{{msg.For(msg.English), tt.english}, {msg.For(msg.Chinese), tt.chinese}} {
				p := lang.tag
				var out bytes.Buffer
				f := &Factory{IO: &IOStreams{Out: &out, ErrOut: &out, In: strings.NewReader("")}, v: newViper(), printer: &p}
				root := NewCmdRoot(f)
				root.SetArgs(tt.args)
				_, err := root.ExecuteC()
				if ExitCode(err) != ExitUsage {
					t.Fatalf("exit code %d (%v); want %d", ExitCode(err), err, ExitUsage)
				}
				code, params := errorCode(err)
				if code != codeUsage {
					t.Errorf("code %q; want %q", code, codeUsage)
				}
				if got := f.errorText(err, code, params); got != lang.want {
					t.Errorf("%v: errorText = %q; want %q", p.Tag(), got, lang.want)
				}
			}
		})
	}
}

// TestDefaultsChinese: pflag's " (default X)" reads （默认值 X） in Chinese.
func TestDefaultsChinese(t *testing.T) {
	in := "  -o, --output string   output format (default \"text\")\n      --x int   x (default 3)\n      --y   y\n"
	got := translateDefaults(msg.For(msg.Chinese), in)
	want := "  -o, --output string   output format（默认值 \"text\"）\n      --x int   x（默认值 3）\n      --y   y\n"
	if got != want {
		t.Errorf("translateDefaults = %q; want %q", got, want)
	}
	if got := translateDefaults(msg.For(msg.English), in); got != in {
		t.Errorf("English translateDefaults = %q; want it unchanged", got)
	}
}

// TestErrorTextBelowCLI: an error of the service (msg.Errorf) or a field
// error (ra.Fieldf) with no code of its own is shown whole in Chinese,
// its data (references, paths) kept, ending in its class; English is the
// error's own text.
func TestErrorTextBelowCLI(t *testing.T) {
	zh := msg.For(msg.Chinese)
	f := &Factory{IO: &IOStreams{}, printer: &zh}
	tests := []struct {
		err  error
		want string
	}{
		{msg.Errorf("request %s is not approved yet; an operator approves it first: %w", "R1", ra.ErrConflict),
			"申请 R1 尚未审核通过；须先由操作员审核通过：状态不允许"},
		{msg.Errorf("%s has no cmca store; run `cmca init --home %s` first, or put the store back from a backup (`cmca restore`): %w", "/h", "/h", service.ErrNoHome),
			"/h 中没有 cmca 存储；请先运行 `cmca init --home /h`，或用备份恢复存储（`cmca restore`）：数据目录尚未初始化"},
		{fmt.Errorf("wrapped: %w", ra.Fieldf("passcode", "a passcode has %d characters (e.g. 7KQ3-PZ4M-XW2A-9HCD-1EFG), got %d", 20, 3)),
			"字段 passcode 无效：下载授权码有 20 个字符（例如 7KQ3-PZ4M-XW2A-9HCD-1EFG），实际为 3 个"},
		// A failure of no class (I/O): translated, after the class's text.
		{msg.Errorf("create backup: %w", errors.New("open /x: no such file or directory")), "出错：建立备份：open /x: no such file or directory"},
		// A message with no zh-Hans text: its class's text around the English.
		{msg.Errorf("no such text %s: %w", "x", ra.ErrConflict), "当前状态不允许此操作：no such text x: wrong state"},
	}
	for _, tt := range tests {
		code, params := errorCode(tt.err)
		if got := f.errorText(tt.err, code, params); got != tt.want {
			t.Errorf("errorText(%q) = %q; want %q", tt.err, got, tt.want)
		}
	}
	en := msg.For(msg.English)
	f.printer = &en
	err := tests[0].err
	code, params := errorCode(err)
	if got := f.errorText(err, code, params); got != err.Error() || !errors.Is(err, ra.ErrConflict) {
		t.Errorf("English errorText = %q; want %q", got, err.Error())
	}
}

// TestUnknownSubcommand: an unknown subcommand of any command group (cert,
// token, operator, …, and the root) is a usage error, exit 2, in English
// and Chinese, never a help page and exit 0; a near miss names the
// subcommands meant ("Did you mean this?").
func TestUnknownSubcommand(t *testing.T) {
	var groups [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		if c.HasAvailableSubCommands() {
			groups = append(groups, path)
		}
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() && sub.Name() != "help" {
				walk(sub, append(slices.Clone(path), sub.Name()))
			}
		}
	}
	walk(NewCmdRoot(&Factory{IO: &IOStreams{}, v: newViper()}), nil)
	var names []string
	for _, g := range groups {
		names = append(names, strings.Join(g, " "))
	}
	for _, want := range []string{"", "cert", "token", "operator", "policy", "audit", "store", "ca"} {
		if !slices.Contains(names, want) {
			t.Errorf("command groups %q lack %q", names, want)
		}
	}
	type run struct {
		args             []string
		english, chinese string
	}
	var runs []run
	for _, g := range groups {
		path := strings.TrimSpace("cmca " + strings.Join(g, " "))
		runs = append(runs, run{append(slices.Clone(g), "frob"),
			fmt.Sprintf("unknown command \"frob\" for %q", path), fmt.Sprintf("用法错误：\"frob\" 不是 %q 的命令", path)})
	}
	runs = append(runs,
		run{[]string{"cert", "shwo"}, "unknown command \"shwo\" for \"cmca cert\"\n\nDid you mean this?\n\tshow",
			"用法错误：\"shwo\" 不是 \"cmca cert\" 的命令\n\n您是否要输入：\n\tshow"},
		run{[]string{"sert"}, "unknown command \"sert\" for \"cmca\"\n\nDid you mean this?\n\tcert\n\tcerts\n\tserve",
			"用法错误：\"sert\" 不是 \"cmca\" 的命令\n\n您是否要输入：\n\tcert\n\tcerts\n\tserve"})
	for _, tt := range runs {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			for _, lang := range []struct {
				p    msg.Printer
				want string
			}{{msg.For(msg.English), tt.english}, {msg.For(msg.Chinese), tt.chinese}} {
				var out bytes.Buffer
				f := &Factory{IO: &IOStreams{Out: &out, ErrOut: &out, In: strings.NewReader("")}, v: newViper(), printer: &lang.p}
				root := NewCmdRoot(f)
				root.SetArgs(tt.args)
				_, err := root.ExecuteC()
				if ExitCode(err) != ExitUsage {
					t.Fatalf("exit code %d (%v); want %d", ExitCode(err), err, ExitUsage)
				}
				if out.Len() != 0 {
					t.Errorf("printed %q; want nothing (no help page)", out.String())
				}
				code, params := errorCode(err)
				if got := f.errorText(err, code, params); code != codeUsage || got != lang.want {
					t.Errorf("%v: %s %q; want %s %q", lang.p.Tag(), code, got, codeUsage, lang.want)
				}
			}
		})
	}
}
