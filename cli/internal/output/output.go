// Package output renders command results as a table for people or as JSON
// for scripts. The JSON of a command is a contract: the API's own field
// names, one document per result (an array for lists), never table
// decoration, so scripts can rely on it across releases.
package output

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Format is the value of --output.
type Format string

const (
	// Table is aligned columns (lists) or "field: value" lines (one item).
	Table Format = "table"
	// JSON is indented JSON on stdout, errors as JSON on stderr.
	JSON Format = "json"
)

// Formats lists the values --output accepts, for help and completion.
var Formats = []string{string(Table), string(JSON)}

// ParseFormat validates an --output value.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case Table, JSON:
		return f, nil
	}
	return "", fmt.Errorf("--output must be table or json, not %q", s)
}

// Printer writes results in one format.
type Printer struct {
	w      io.Writer
	format Format
}

// NewPrinter writes to w in format.
func NewPrinter(w io.Writer, format Format) *Printer { return &Printer{w: w, format: format} }

// Format is the printer's format.
func (p *Printer) Format() Format { return p.format }

// Render writes v as JSON, or lets human draw the table form.
func (p *Printer) Render(v any, human func(w io.Writer) error) error {
	if p.format == JSON {
		return WriteJSON(p.w, v)
	}
	return human(p.w)
}

// WriteJSON writes v indented, with a final newline and without HTML
// escaping (URLs keep their & and <>).
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WriteTable writes headers and rows as aligned columns; an empty cell
// shows as "-".
func WriteTable(w io.Writer, headers []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(headers, "\t"))
	for _, row := range rows {
		cells := make([]string, len(row))
		for i, c := range row {
			cells[i] = cellText(c)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// Field is one "name: value" line of WriteFields.
type Field struct {
	Name, Value string
}

// WriteFields writes one item as aligned "name: value" lines.
func WriteFields(w io.Writer, fields []Field) error {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	for _, f := range fields {
		fmt.Fprintf(tw, "%s:\t%s\n", f.Name, cellText(f.Value))
	}
	return tw.Flush()
}

// cellText keeps a cell on one line so columns stay aligned.
func cellText(s string) string {
	if s == "" {
		return "-"
	}
	return strings.NewReplacer("\n", " ", "\r", " ", "\t", " ").Replace(s)
}
