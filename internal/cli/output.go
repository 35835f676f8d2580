package cli

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"unicode/utf8"
)

// table prints aligned columns; on a terminal, wide cells are cut so rows
// fit the window. Piped output is never cut.
type table struct {
	f      *Factory
	header []string
	rows   [][]string
}

func newTable(f *Factory, header ...string) *table { return &table{f: f, header: header} }

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) flush() error {
	rows := append([][]string{t.header}, t.rows...)
	if t.f.IO.IsStdoutTTY() {
		fitWidth(rows, t.f.IO.TerminalWidth())
	}
	w := tabwriter.NewWriter(t.f.IO.Out, 0, 0, 2, ' ', 0)
	for i, r := range rows {
		if i == 0 && t.f.IO.ColorEnabled() {
			for j := range r {
				r[j] = "\x1b[1m" + r[j] + "\x1b[0m"
			}
		}
		fmt.Fprintln(w, strings.Join(r, "\t"))
	}
	return w.Flush()
}

// fitWidth shortens the widest column until the table fits width.
func fitWidth(rows [][]string, width int) {
	if len(rows) == 0 {
		return
	}
	n := len(rows[0])
	widths := make([]int, n)
	measure := func() int {
		total := 0
		for j := range widths {
			widths[j] = 0
			for _, r := range rows {
				if j < len(r) {
					widths[j] = max(widths[j], displayWidth(r[j]))
				}
			}
			total += widths[j] + 2
		}
		return total
	}
	for guard := 0; measure() > width && guard < 200; guard++ {
		wide := 0
		for j := range widths {
			if widths[j] > widths[wide] {
				wide = j
			}
		}
		if widths[wide] <= 6 {
			return
		}
		limit := widths[wide] - 1
		for _, r := range rows {
			if wide < len(r) && displayWidth(r[wide]) > limit {
				r[wide] = cut(r[wide], limit)
			}
		}
	}
}

// displayWidth counts East Asian wide characters as two columns.
func displayWidth(s string) int {
	w := 0
	for _, r := range s {
		if r >= 0x1100 && (r <= 0x115f || (r >= 0x2e80 && r <= 0xa4cf) || (r >= 0xac00 && r <= 0xd7a3) || (r >= 0xf900 && r <= 0xfaff) || (r >= 0xfe30 && r <= 0xfe4f) || (r >= 0xff00 && r <= 0xff60) || (r >= 0xffe0 && r <= 0xffe6)) {
			w += 2
		} else {
			w++
		}
	}
	return w
}

func cut(s string, width int) string {
	var b strings.Builder
	w := 0
	for _, r := range s {
		rw := displayWidth(string(r))
		if w+rw > width-1 {
			break
		}
		b.WriteRune(r)
		w += rw
	}
	return b.String() + "…"
}

// writeFilePublic writes a public artefact (certificate, CRL) atomically.
func writeFilePublic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

var _ = utf8.RuneLen
