package cli

import (
	"bytes"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/cmca/cmca/internal/msg"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/token"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// helpTerms are the words of Latin letters a Chinese help may show: the
// names of standards, protocols, formats and programs, and the values a
// user types (states, usage types, storage, output formats). Flag names,
// command names, config keys, placeholders in capitals (FILE, REF) and
// the Examples section are allowed without being listed.
var helpTerms = strings.Fields(`
	PKCS PKCS#11 PKCS#12 CRL CRLs OCSP URL URI RFC PEM DER JSON YAML CSV CSR CSRs CA HTTPS HTTP TLS API
	EST CMP SQLite PostgreSQL SQL VACUUM INTO USB Key SIGTERM SIGINT JSONL RSA ECDSA SHA GB GnuTLS NSS
	Java Windows Linux macOS PowerShell Bash Zsh Fish bash zsh fish powershell openssl certutil
	pprof go tool postgres sqlite cmca man Markdown md
	text json soft usbkey auth email sign all new renew revoke reissue valid revoked expired
	submitted approved rejected issued completed lost damaged superseded keyCompromise
	resident passport hk macau taiwan hmt residence ecdsa p256 p384 rsa
	en zh Hans zh-Hans LC_ALL LC_MESSAGES LANG XDG_DATA_HOME HOME
	string int uint duration strings stringArray bool float
	flags command
	e g i.e ra db ra.db p12 crt
	admin counter reviewer operator applicant
	localhost
	on off true false
	Subject Alternative Name keyUsage extKeyUsage
	store-migrate
	DN Go Lines auditor issuer revoker certificateHold removeFromCRL clientAuth nextUpdate thisUpdate
	cron curl sudo cp csr cmp shell profile v1
`)

// helpSections removes the Examples section (command lines, shown as
// they are) from a help text.
func withoutExamples(help string) string {
	var b strings.Builder
	skip := false
	for _, line := range strings.Split(help, "\n") {
		if line == msg.For(msg.Chinese).T("Examples:") {
			skip = true
			continue
		}
		if skip && line != "" && !strings.HasPrefix(line, " ") {
			skip = false
		}
		if !skip {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

var (
	latinRun = regexp.MustCompile(`[A-Za-z][A-Za-z0-9#_]*`)
	// technical chunks shown as they are: paths, URLs, flags, env vars,
	// `quoted` commands, key=value.
	technical = regexp.MustCompile("`[^`]*`|'[^']*'|\"[^\"]*\"|\\S*[/$=@%:.]\\S*|(^|[^A-Za-z0-9])--?[a-z][\\w-]*|\\b\\d+[a-z]+\\b")
)

// TestHelpChineseHasNoEnglish runs every command's --help in Chinese and
// fails on any English word that is not a name the user types or an
// allowed technical term (helpTerms).
func TestHelpChineseHasNoEnglish(t *testing.T) {
	t.Setenv("CMCA_CONFIG", "")
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	allowed := map[string]bool{}
	for _, w := range helpTerms {
		allowed[w] = true
	}
	for k := range configDefaults {
		for _, w := range latinRun.FindAllString(k, -1) {
			allowed[w] = true
		}
	}
	for _, it := range ra.IDTypes {
		for _, w := range latinRun.FindAllString(string(it), -1) {
			allowed[w] = true
		}
	}
	for _, a := range token.KeyAlgos {
		for _, w := range latinRun.FindAllString(string(a), -1) {
			allowed[w] = true
		}
	}
	for _, r := range ra.RevocationReasons {
		allowed[string(r)] = true
	}
	// Names from the command tree: commands, flags, flag types.
	names := func(root *cobra.Command) {
		var walk func(c *cobra.Command)
		walk = func(c *cobra.Command) {
			for _, w := range latinRun.FindAllString(c.Name(), -1) {
				allowed[w] = true
			}
			add := func(fl *pflag.Flag) {
				for _, w := range latinRun.FindAllString(fl.Name, -1) {
					allowed[w] = true
				}
				typ, _ := pflag.UnquoteUsage(fl)
				allowed[typ] = true
			}
			c.Flags().VisitAll(add)
			c.PersistentFlags().VisitAll(add)
			for _, sub := range c.Commands() {
				walk(sub)
			}
		}
		walk(root)
	}
	var paths [][]string
	{
		f := &Factory{IO: &IOStreams{}, v: newViper()}
		root := NewCmdRoot(f)
		root.InitDefaultHelpCmd()
		root.InitDefaultCompletionCmd()
		names(root)
		var walk func(c *cobra.Command, path []string)
		walk = func(c *cobra.Command, path []string) {
			if c.Hidden {
				return
			}
			paths = append(paths, path)
			for _, sub := range c.Commands() {
				walk(sub, append(append([]string(nil), path...), sub.Name()))
			}
		}
		walk(root, nil)
	}
	if len(paths) < 30 {
		t.Fatalf("found %d commands; the walk is broken", len(paths))
	}
	zh := msg.For(msg.Chinese)
	found := map[string][]string{}
	for _, path := range paths {
		var out bytes.Buffer
		f := &Factory{IO: &IOStreams{Out: &out, ErrOut: &out}, v: newViper(), printer: &zh}
		root := NewCmdRoot(f)
		root.SetArgs(append(append([]string(nil), path...), "--help"))
		if err := root.Execute(); err != nil {
			t.Fatalf("cmca %s --help: %v", strings.Join(path, " "), err)
		}
		help := withoutExamples(out.String())
		if !strings.Contains(help, "用法：") {
			t.Errorf("cmca %s --help is not Chinese:\n%s", strings.Join(path, " "), help)
			continue
		}
		for _, line := range strings.Split(help, "\n") {
			if strings.HasPrefix(line, "\t") {
				continue // a command line to type (cobra's completion help)
			}
			line = technical.ReplaceAllString(line, " ")
			for _, w := range latinRun.FindAllString(line, -1) {
				if allowed[w] || isPlaceholder(w) {
					continue
				}
				p := "cmca " + strings.Join(path, " ")
				if len(found[w]) == 0 || found[w][len(found[w])-1] != p {
					found[w] = append(found[w], p)
				}
			}
		}
	}
	var words []string
	for w := range found {
		words = append(words, w)
	}
	sort.Strings(words)
	for _, w := range words {
		t.Errorf("English word %q in the Chinese help of %s", w, strings.Join(found[w], ", "))
	}
}

// isPlaceholder: a word in capitals (FILE, REF, N, HOST) is a
// placeholder or an acronym.
func isPlaceholder(w string) bool {
	return strings.ToUpper(w) == w
}
