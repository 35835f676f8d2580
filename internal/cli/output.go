package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mattn/go-runewidth"
)

// table prints aligned columns; on a terminal, wide cells are cut so rows
// fit the window. Piped output is never cut.
type table struct {
	f      *Factory
	header []string
	rows   [][]string
}

// newTable starts a table; its headers are translated into the user's
// language (JSON output keeps its own field names).
func newTable(f *Factory, header ...string) *table {
	for i, h := range header {
		header[i] = f.T(h)
	}
	return &table{f: f, header: header}
}

// row adds a row; cells are sanitized (stored text may hold control
// characters).
func (t *table) row(cells ...string) {
	for i, c := range cells {
		cells[i] = sanitize(c)
	}
	t.rows = append(t.rows, cells)
}

func (t *table) flush() error {
	rows := append([][]string{t.header}, t.rows...)
	if t.f.IO.IsStdoutTTY() {
		fitWidth(rows, t.f.IO.TerminalWidth())
	}
	// Columns are padded by terminal columns, not bytes or runes (which
	// text/tabwriter counts): 张三 takes four columns, as does 𠀋𠀋.
	widths := make([]int, len(t.header))
	for _, r := range rows {
		for j, c := range r {
			if j < len(widths) {
				widths[j] = max(widths[j], displayWidth(c))
			}
		}
	}
	var b strings.Builder
	for i, r := range rows {
		for j, c := range r {
			last := j == len(r)-1
			if i == 0 && t.f.IO.ColorEnabled() {
				b.WriteString("\x1b[1m" + c + "\x1b[0m")
			} else {
				b.WriteString(c)
			}
			if !last && j < len(widths) {
				b.WriteString(strings.Repeat(" ", widths[j]-displayWidth(c)+2))
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(t.f.IO.Out, b.String())
	return err
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

// columns measures text as a terminal shows it (Unicode East Asian Width):
// wide and fullwidth characters, CJK Extension B and beyond included, take
// two columns, combining marks none. Ambiguous characters (…, ·) take one,
// whatever the locale, as in most terminals.
var columns = &runewidth.Condition{EastAsianWidth: false}

// displayWidth is the number of terminal columns s takes.
func displayWidth(s string) int { return columns.StringWidth(s) }

func cut(s string, width int) string {
	var b strings.Builder
	w := 0
	for _, r := range s {
		rw := columns.RuneWidth(r)
		if w+rw > width-1 {
			break
		}
		b.WriteRune(r)
		w += rw
	}
	return b.String() + "…"
}

// progress is a one-line progress report on stderr for long work (bulk
// apply, bulk approve, big CRLs). It draws only when stderr is a terminal
// and the output is for people (not -o json, not --quiet), so logs and
// scripts never see it.
type progress struct {
	w     io.Writer
	label string
	total int
	n     int
	start time.Time
	last  time.Time
	now   func() time.Time
}

// progressMin is the smallest batch worth a progress line.
const progressMin = 20

// newProgress starts a progress line for total items; it is a no-op off a
// terminal or for small batches.
func (f *Factory) newProgress(label string, total int) *progress {
	if !f.IO.IsStderrTTY() || f.JSON() || f.Quiet() || total < progressMin {
		return nil
	}
	p := &progress{w: f.IO.ErrOut, label: label, total: total, now: time.Now}
	p.start = p.now()
	p.draw()
	return p
}

// add counts n more items done, redrawing at most ten times a second.
func (p *progress) add(n int) {
	if p == nil {
		return
	}
	p.n += n
	if t := p.now(); t.Sub(p.last) >= 100*time.Millisecond || p.n >= p.total {
		p.draw()
	}
}

func (p *progress) draw() {
	p.last = p.now()
	fmt.Fprintf(p.w, "\r\x1b[K%s", progressLine(p.label, p.n, p.total, 30))
}

// set moves the count to n.
func (p *progress) set(n int) {
	if p != nil {
		p.add(n - p.n)
	}
}

// done ends the line with the count reached and the elapsed time.
func (p *progress) done() {
	if p == nil {
		return
	}
	fmt.Fprintf(p.w, "\r\x1b[K%s in %s\n", progressLine(p.label, p.n, p.total, 30), p.now().Sub(p.start).Round(time.Millisecond))
}

// progressLine renders "label [#####.....] n/total".
func progressLine(label string, n, total, width int) string {
	if total <= 0 {
		return label
	}
	n = min(max(n, 0), total)
	full := n * width / total
	return fmt.Sprintf("%s [%s%s] %d/%d", label, strings.Repeat("#", full), strings.Repeat(".", width-full), n, total)
}
