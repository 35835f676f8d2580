package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestFitWidth(t *testing.T) {
	tests := []struct {
		name  string
		rows  [][]string
		width int
		want  [][]string
	}{
		{"fits already", [][]string{{"REF", "NAME"}, {"20261125-AAAA", "Li"}}, 80,
			[][]string{{"REF", "NAME"}, {"20261125-AAAA", "Li"}}},
		{"widest column is cut first", [][]string{{"A", "B"}, {"short", strings.Repeat("x", 40)}}, 30,
			[][]string{{"A", "B"}, {"short", strings.Repeat("x", 20) + "…"}}},
		{"wide characters count twice", [][]string{{"N"}, {"张三李四王五赵六"}}, 12,
			[][]string{{"N"}, {"张三李四…"}}},
		{"never below six columns", [][]string{{"AAAAAA", "BBBBBB"}, {"aaaaaaaa", "bbbbbbbb"}}, 5,
			[][]string{{"AAAAAA", "BBBBBB"}, {"aaaaa…", "bbbbb…"}}},
		{"no rows", nil, 10, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fitWidth(tt.rows, tt.width)
			if len(tt.rows) != len(tt.want) {
				t.Fatalf("fitWidth rows = %q; want %q", tt.rows, tt.want)
			}
			for i := range tt.rows {
				if strings.Join(tt.rows[i], "|") != strings.Join(tt.want[i], "|") {
					t.Errorf("fitWidth row %d = %q; want %q", i, tt.rows[i], tt.want[i])
				}
			}
			if len(tt.rows) > 0 && tt.width >= 12 {
				total := 0
				for j := range tt.rows[0] {
					w := 0
					for _, r := range tt.rows {
						w = max(w, displayWidth(r[j]))
					}
					total += w + 2
				}
				if total > tt.width {
					t.Errorf("fitWidth left a table %d columns wide; want <= %d", total, tt.width)
				}
			}
		})
	}
}

func TestDisplayWidth(t *testing.T) {
	for _, tt := range []struct {
		s    string
		want int
	}{{"", 0}, {"abc", 3}, {"张三", 4}, {"a张b", 4}, {"ｱ", 1}, {"（", 2},
		{"㐀丽", 4},         // Extension A, compatibility ideograph
		{"𠀋𪚥", 4},         // Extension B
		{"\U00030000", 2}, // Extension G
		{"e\u0301", 1},    // a combining accent takes no column
		{"…", 1},          // ambiguous: one column whatever the locale
	} {
		if got := displayWidth(tt.s); got != tt.want {
			t.Errorf("displayWidth(%q) = %d; want %d", tt.s, got, tt.want)
		}
	}
}

// testFactory is a Factory on buffers, with the terminal flags given.
func testFactory(t *testing.T, tty bool, env map[string]string, args ...string) (*Factory, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	io := newSystemIO(func(k string) string { return env[k] }, func(int) bool { return tty })
	var out, errOut bytes.Buffer
	io.Out, io.ErrOut, io.In = &out, &errOut, strings.NewReader("")
	f := &Factory{IO: io, Version: "test", v: newViper()}
	for i := 0; i+1 < len(args); i += 2 {
		f.v.Set(args[i], args[i+1])
	}
	t.Setenv("CMCA_CONFIG", "")
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	return f, &out, &errOut
}

func TestColour(t *testing.T) {
	tests := []struct {
		name string
		tty  bool
		env  map[string]string
		want bool
	}{
		{"terminal", true, nil, true},
		{"pipe", false, nil, false},
		{"NO_COLOR on a terminal", true, map[string]string{"NO_COLOR": "1"}, false},
		{"empty NO_COLOR is unset", true, map[string]string{"NO_COLOR": ""}, true},
		{"dumb terminal", true, map[string]string{"TERM": "dumb"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, out, _ := testFactory(t, tt.tty, tt.env)
			if got := f.IO.ColorEnabled(); got != tt.want {
				t.Errorf("ColorEnabled() = %v; want %v", got, tt.want)
			}
			tb := newTable(f, "REF", "STATE")
			tb.row("20261125-AAAA", "submitted")
			if err := tb.flush(); err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(out.String(), "\x1b["); got != tt.want {
				t.Errorf("table output has escape codes = %v; want %v:\n%q", got, tt.want, out.String())
			}
		})
	}
}

func TestProgress(t *testing.T) {
	t.Run("drawn on a terminal", func(t *testing.T) {
		f, out, errOut := testFactory(t, true, nil)
		p := f.newProgress("approving", 40)
		if p == nil {
			t.Fatal("newProgress on a terminal = nil")
		}
		clock := time.Unix(0, 0)
		p.now = func() time.Time { clock = clock.Add(150 * time.Millisecond); return clock }
		for range 40 {
			p.add(1)
		}
		p.done()
		if !strings.Contains(errOut.String(), "approving [##############################] 40/40 in ") {
			t.Errorf("progress line = %q", errOut.String())
		}
		if out.Len() != 0 {
			t.Errorf("progress wrote on stdout: %q", out.String())
		}
	})
	for _, tt := range []struct {
		name  string
		tty   bool
		total int
		args  []string
	}{
		{"not a terminal", false, 100, nil},
		{"small batch", true, 3, nil},
		{"json", true, 100, []string{"output", "json"}},
		{"quiet", true, 100, []string{"quiet", "true"}},
	} {
		t.Run("silent: "+tt.name, func(t *testing.T) {
			f, _, errOut := testFactory(t, tt.tty, nil, tt.args...)
			p := f.newProgress("approving", tt.total)
			p.add(tt.total) // nil-safe
			p.done()
			if p != nil || errOut.Len() != 0 {
				t.Errorf("progress drew %q; want nothing", errOut.String())
			}
		})
	}
}

func TestProgressLine(t *testing.T) {
	for _, tt := range []struct {
		n, total int
		want     string
	}{
		{0, 10, "x [..........] 0/10"},
		{5, 10, "x [#####.....] 5/10"},
		{12, 10, "x [##########] 10/10"},
		{1, 0, "x"},
	} {
		if got := progressLine("x", tt.n, tt.total, 10); got != tt.want {
			t.Errorf("progressLine(%d, %d) = %q; want %q", tt.n, tt.total, got, tt.want)
		}
	}
}

// TestTableAlignsCJK: every column starts at the same terminal column on
// every row, whichever CJK block the names come from.
func TestTableAlignsCJK(t *testing.T) {
	t.Setenv("RUNEWIDTH_EASTASIAN", "1") // a Chinese locale must not widen "…"
	f, out, _ := testFactory(t, false, nil)
	tb := newTable(f, "REF", "NAME", "STATE")
	names := []string{"Li Si", "张三", "㐀丽", "𠀋𪚥𠀋", "王\U00030000五", "Zoë"}
	for _, n := range names {
		tb.row("20261125-AAAAAAAA", n, "submitted")
	}
	if err := tb.flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != len(names)+1 {
		t.Fatalf("table has %d lines; want %d:\n%s", len(lines), len(names)+1, out)
	}
	stateCol := -1
	for _, l := range lines {
		i := strings.LastIndex(l, "  ") + 2
		col := displayWidth(l[:i])
		if stateCol == -1 {
			stateCol = col
		}
		if col != stateCol {
			t.Errorf("row %q: STATE starts at column %d; want %d\n%s", l, col, stateCol, out)
		}
	}
	// The widest names, 𠀋𪚥𠀋 and 王𰀀五, take six columns.
	if want := len("20261125-AAAAAAAA") + 2 + 6 + 2; stateCol != want {
		t.Errorf("STATE starts at column %d; want %d\n%s", stateCol, want, out)
	}
}
