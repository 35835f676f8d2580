package service

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// localOnly are the files of operator tooling no API client reaches (doctor
// reports, init, backup/restore, store setup and migration, the CRL files
// of a home, opening a home, the passcode key's file): their messages
// keep their command hints (docs/architecture.md, "Error codes").
var localOnly = map[string]bool{
	"backup.go": true, "init.go": true, "doctor.go": true, "doctor_lost.go": true,
	"checkpoint.go": true, "storemigrate.go": true, "identity.go": true, "service.go": true,
	"crl_current.go": true, "crl_published.go": true,
	"passcode_kek.go": true, "homepolicy.go": true,
}

// cliWording matches a cmca command or a command-line flag.
var cliWording = regexp.MustCompile("`cmca |(^|[\\s(])--[a-z]")

// TestAPIPathMessagesNameNoCommand: an error of the service that reaches
// an API client with its message (one of a class: a field error, or an
// error wrapping an ra sentinel) names no cmca command or flag; the command
// line renders remedies from the code (TestAPIConformance in
// internal/client checks the wire).
func TestAPIPathMessagesNameNoCommand(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	raFiles, err := filepath.Glob(filepath.Join("..", "ra", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(append(files, raFiles...), filepath.Join("..", "store", "requests.go"))
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") || localOnly[name] {
			continue
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			fn := selectorName(call.Fun)
			var format string
			switch fn {
			case "ra.Fieldf", "Fieldf":
				if len(call.Args) > 1 {
					format = stringLit(call.Args[1])
				}
			case "msg.Errorf", "fmt.Errorf":
				if len(call.Args) > 0 && wrapsSentinel(call.Args[1:]) {
					format = stringLit(call.Args[0])
				}
			}
			if format == "" {
				return true
			}
			checked++
			if cliWording.MatchString(format) {
				t.Errorf("%s: %s(%q) names a cmca command or flag; say what is wrong, and give the CLI a code and params", fset.Position(call.Pos()), fn, format)
			}
			return true
		})
	}
	if checked < 50 {
		t.Errorf("checked %d messages; want the service's (50 or more)", checked)
	}
}

func selectorName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		if x, ok := e.X.(*ast.Ident); ok {
			return x.Name + "." + e.Sel.Name
		}
	}
	return ""
}

func stringLit(e ast.Expr) string {
	if bl, ok := e.(*ast.BasicLit); ok && bl.Kind == token.STRING {
		s, err := strconv.Unquote(bl.Value)
		if err == nil {
			return s
		}
	}
	return ""
}

// wrapsSentinel: an argument is a class sentinel (ra.ErrConflict, ...).
func wrapsSentinel(args []ast.Expr) bool {
	for _, a := range args {
		if name := selectorName(a); strings.HasPrefix(name, "ra.Err") || strings.HasPrefix(name, "store.Err") {
			return true
		}
	}
	return false
}
