package xlsx

import (
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

// Table encodes one sheet: the headers (frozen) and rows of text, each
// column as wide as its longest cell within bounds, long text wrapped.
// The maintenance record exports use it.
func (e Encoder) Table(name string, headers []string, rows [][]string) ([]byte, error) {
	f := excelize.NewFile()
	defer f.Close()
	st, err := newStyles(f)
	if err != nil {
		return nil, err
	}
	widths := make([]float64, len(headers))
	for i, h := range headers {
		widths[i] = width(h)
	}
	for _, r := range rows {
		for i, v := range r {
			if i < len(widths) {
				widths[i] = max(widths[i], width(v))
			}
		}
	}
	s := e.newSheet(f, st, sheetName(name), true, headers, widths)
	wrap := make([]int, len(headers))
	for i := range wrap {
		wrap[i] = st.wrap
	}
	for _, r := range rows {
		vals := make([]any, len(r))
		for i, v := range r {
			vals[i] = v
		}
		s.put(vals, wrap)
	}
	if s.err != nil {
		return nil, s.err
	}
	return finish(f)
}

// width is a column width for v: CJK characters count double; between 8 and 50.
func width(v string) float64 {
	w := 0.0
	for _, r := range v {
		if utf8.RuneLen(r) > 1 {
			w += 2
		} else {
			w++
		}
	}
	return min(max(w+2, 8), 50)
}

// sheetName fits Excel's 31-character limit.
func sheetName(s string) string {
	if utf8.RuneCountInString(s) <= 31 {
		return s
	}
	return string([]rune(s)[:31])
}
