package cli

import (
	"fmt"
	"reflect"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/huh"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/cmca/cmca/internal/msg"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// helpIDs lists every help text of the command tree: Short, Long, flag
// usage, group titles and cobra's template headings.
func helpIDs(t *testing.T) []string {
	t.Helper()
	f := &Factory{IO: &IOStreams{}, v: newViper()}
	root := NewCmdRoot(f)
	root.InitDefaultHelpCmd() // cobra's own commands: localizeHelp translates them
	root.InitDefaultCompletionCmd()
	ids := append([]string(nil), templateWords...)
	ids = append(ids, `Use "{{.CommandPath}} [command] --help" for more information about a command.`, "help for %s", "version for %s",
		"Help about any command", "Generate the autocompletion script for the specified shell") // cobra's own commands
	for _, g := range root.Groups() {
		ids = append(ids, g.Title)
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		ids = append(ids, c.Short, c.Long)
		add := func(fl *pflag.Flag) {
			if !strings.HasPrefix(fl.Usage, "help for ") && !strings.HasPrefix(fl.Usage, "version for ") {
				ids = append(ids, fl.Usage)
			}
		}
		c.LocalFlags().VisitAll(add)
		c.PersistentFlags().VisitAll(add)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return ids
}

// sourceIDs lists the message IDs written in this package's code: the
// literal first argument of f.T, f.Tf, f.Printf, f.Warnf (and p.T,
// p.Sprintf on a msg.Printer), and the headers of newTable.
func sourceIDs(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	// Client-side enrolment's errors (enroll.Error) are shown by this
	// package in the user's language too.
	enrollFiles, err := filepath.Glob("../enroll/*.go")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, enrollFiles...)
	// The packages below the command line: their msg.Errorf and
	// ra.Fieldf messages reach the user too.
	below := map[string]bool{}
	for _, dir := range []string{"service", "ra", "token", "store", "client", "ca", "server"} {
		more, err := filepath.Glob("../" + dir + "/*.go")
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range more {
			below[m] = true
		}
		files = append(files, more...)
	}
	var ids []string
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if kv, ok := n.(*ast.KeyValueExpr); ok { // secret{What: "download passcode"}
				if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "What" {
					if bl, ok := kv.Value.(*ast.BasicLit); ok {
						s, _ := strconv.Unquote(bl.Value)
						ids = append(ids, s, capitalise(s))
					}
				}
			}
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			lits := func(args []ast.Expr) {
				for _, a := range args {
					if bl, ok := a.(*ast.BasicLit); ok && bl.Kind == token.STRING {
						s, err := strconv.Unquote(bl.Value)
						if err != nil {
							t.Fatal(err)
						}
						ids = append(ids, s)
					}
				}
			}
			switch fn := call.Fun.(type) {
			case *ast.SelectorExpr:
				if x, ok := fn.X.(*ast.Ident); ok && x.Name == "msg" && fn.Sel.Name == "Errorf" {
					lits(call.Args[:1])
				}
				if x, ok := fn.X.(*ast.Ident); ok && x.Name == "ra" && fn.Sel.Name == "Fieldf" && len(call.Args) > 1 {
					lits(call.Args[1:2])
				}
				if below[name] {
					return true
				}
				recv, ok := fn.X.(*ast.Ident)
				if io, isSel := fn.X.(*ast.SelectorExpr); isSel && io.Sel.Name == "IO" { // o.IO.Printf: a command's printer
					recv, ok = &ast.Ident{Name: "f"}, true
				}
				if ok && (recv.Name == "f" || recv.Name == "p") {
					switch fn.Sel.Name {
					case "T", "Tf", "Printf", "Warnf", "Sprintf", "yesNo":
						lits(call.Args[:1])
					}
				}
			case *ast.Ident:
				switch {
				case fn.Name == "Fieldf" && len(call.Args) > 1: // inside internal/ra
					lits(call.Args[1:2])
				case fn.Name == "classed" && len(call.Args) > 1, fn.Name == "mapP11Error" && len(call.Args) > 1: // internal/token
					lits(call.Args[1:2])
				case fn.Name == "uriError":
					lits(call.Args[:1])
				}
				if below[name] {
					return true
				}
				switch fn.Name {
				case "newTable":
					lits(call.Args[1:])
				case "usagef", "errorf":
					lits(call.Args[:1])
				case "needArgs":
					lits(call.Args[1:])
				}
			}
			return true
		})
	}
	return ids
}

// needsText: an ID with no letters ("%s\n") is data, not a message.
func needsText(id string) bool {
	return strings.ContainsFunc(verbPattern.ReplaceAllString(id, ""), func(r rune) bool {
		return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z'
	})
}

// TestCatalogueComplete fails when a message ID of the CLI has no zh-Hans
// text. CMCA_CATALOGUE_MISSING=FILE writes the missing ones in the
// catalogue's format, for the translator.
func TestCatalogueComplete(t *testing.T) {
	seen := map[string]bool{}
	var missing []string
	// Texts from data the forms show: ID types, the default usage types
	// and acceptance points, the names of reused fields.
	extra := []string{"name", "surname", "given_name", "mobile", "email", "address", newP12Password("").Rule, "choose", "Yes", "No"}
	for _, it := range ra.IDTypes {
		extra = append(extra, it.Label())
	}
	def := service.DefaultConfig()
	for _, p := range def.Profiles {
		extra = append(extra, p.Label)
	}
	for _, p := range def.AcceptancePoints {
		extra = append(extra, p.Label)
	}
	extra = append(extra, completionTexts...)
	// huh's own texts of accessible mode (accessibleText).
	for _, t := range huhAccessibleTexts {
		extra = append(extra, t.format)
	}
	// The help line of huh's keys (f.keyMap).
	eachBinding(reflect.ValueOf(huh.NewDefaultKeyMap()).Elem(), func(b *key.Binding) { extra = append(extra, b.Help().Desc) })
	for _, id := range append(append(append(helpIDs(t), sourceIDs(t)...), extra...), fieldErrorIDs(t)...) {
		id = strings.TrimSpace(id)
		if id == "" || seen[id] || !needsText(id) {
			continue
		}
		seen[id] = true
		if !msg.Has(id) {
			missing = append(missing, id)
		}
	}
	sort.Strings(missing)
	if out := os.Getenv("CMCA_CATALOGUE_MISSING"); out != "" {
		var b strings.Builder
		for _, id := range missing {
			fmt.Fprintf(&b, "@en %s\n@zh \n", id)
		}
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range missing {
		t.Errorf("message ID %q has no zh-Hans text in internal/msg/zh-Hans.txt", id)
	}
	if len(seen) < 100 {
		t.Errorf("found only %d message IDs; the scan is broken", len(seen))
	}
}

// fieldErrorIDs lists the formats of the field validators in internal/ra
// (the literal first argument of idErr and of their bad helpers): the
// form shows their messages as the user types.
func fieldErrorIDs(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "../ra/identity.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	ast.Inspect(file, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		if id, ok := call.Fun.(*ast.Ident); ok && (id.Name == "idErr" || id.Name == "bad") {
			if bl, ok := call.Args[0].(*ast.BasicLit); ok && bl.Kind == token.STRING {
				s, err := strconv.Unquote(bl.Value)
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, s)
			}
		}
		return true
	})
	if len(ids) < 10 {
		t.Fatalf("found %d validator messages in internal/ra/identity.go; the scan is broken", len(ids))
	}
	return ids
}
