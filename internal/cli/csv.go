package cli

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
)

// CSV import (`cmca apply --from-file x.csv`): a header row with the field
// names of the JSON records (docs/cli.md), then one application per row.
// Columns may come in any order and optional ones may be left out; an
// unknown or repeated column, a row with the wrong number of cells or a
// cell of the wrong type fails the whole file, naming its line. Rows are
// then validated like any other application, and their errors name the
// line too; nothing is submitted unless every row is valid, or --partial.

// csvColumns maps header names to the fields of applicationRecord, from its
// json tags, so the CSV and JSON spellings can never drift apart.
var csvColumns = func() map[string]int {
	m := map[string]int{}
	t := reflect.TypeFor[applicationRecord]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			m[name] = i
		}
	}
	return m
}()

func parseCSVApplications(data []byte) ([]applicationRecord, error) {
	bad := func(line int, format string, a ...any) error {
		return &ra.FieldError{Field: "from-file", Msg: fmt.Sprintf("line %d: ", line) + fmt.Sprintf(format, a...)}
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff")) // spreadsheets write a BOM
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = 0 // every row as long as the header
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	if err != nil {
		return nil, csvErr(err)
	}
	cols := make([]int, len(header))
	seen := map[string]bool{}
	for i, h := range header {
		name := strings.TrimSpace(h)
		idx, ok := csvColumns[name]
		if !ok {
			return nil, bad(1, "column %d: unknown field %q; the header names fields as in the JSON format (name, id_type, id_number, ...)", i+1, truncateCell(name))
		}
		if seen[name] {
			return nil, bad(1, "column %d: field %q appears twice", i+1, name)
		}
		seen[name] = true
		cols[i] = idx
	}
	var out []applicationRecord
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, csvErr(err)
		}
		line, _ := r.FieldPos(0)
		rec := applicationRecord{Line: line}
		v := reflect.ValueOf(&rec).Elem()
		for i, cell := range row {
			fv := v.Field(cols[i])
			switch fv.Kind() {
			case reflect.String:
				fv.SetString(cell)
			case reflect.Bool:
				b, err := parseCSVBool(cell)
				if err != nil {
					return nil, bad(line, "column %d (%s): %v", i+1, header[i], err)
				}
				fv.SetBool(b)
			}
		}
		out = append(out, rec)
	}
	return out, nil
}

func parseCSVBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "false", "no", "n", "0":
		return false, nil
	case "true", "yes", "y", "1":
		return true, nil
	}
	return false, errorf("%q is not true or false", truncateCell(s))
}

func truncateCell(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}

// csvErr turns the csv package's errors ("record on line 3: wrong number of
// fields") into field errors that name the line.
func csvErr(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		msg := pe.Err.Error()
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			msg = "wrong number of cells: every row needs one per header column"
		}
		return ra.Fieldf("from-file", "line %d: %s", pe.Line, msg)
	}
	return &ra.FieldError{Field: "from-file", Msg: err.Error()}
}

// where names a record's line, for CSV records.
func (r applicationRecord) where() string {
	if r.Line == 0 {
		return ""
	}
	return fmt.Sprintf(" (line %d)", r.Line)
}

// annotateLines adds the CSV line of each failed application to its error,
// in the results and in a batch error.
func annotateLines(recs []applicationRecord, results []service.ApplyResult, err error) {
	if len(recs) == 0 || recs[0].Line == 0 {
		return
	}
	note := func(ie *service.ItemError) {
		if ie == nil || ie.Index < 1 || ie.Index > len(recs) || strings.HasPrefix(ie.Error, "line ") {
			return
		}
		ie.Error = fmt.Sprintf("line %d: %s", recs[ie.Index-1].Line, ie.Error)
	}
	var be *service.BatchError
	if errors.As(err, &be) {
		for i := range be.Errors {
			note(&be.Errors[i])
		}
	}
	for i := range results {
		note(results[i].Error)
	}
}
