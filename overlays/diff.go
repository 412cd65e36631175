package overlays

import (
	"strings"

	"github.com/pmezard/go-difflib/difflib"
)

// Diff renders the change as a unified diff (git style, a/ and b/ paths,
// three lines of context), files in path order.
func (c *Change) Diff() string {
	var b strings.Builder
	for _, p := range c.Paths() {
		before, after := c.Before[p], c.Files[p]
		from := "a/" + p
		if before == nil {
			from = "/dev/null"
		}
		d := difflib.UnifiedDiff{
			A:        splitLines(before),
			B:        splitLines(after),
			FromFile: from,
			ToFile:   "b/" + p,
			Context:  3,
		}
		text, err := difflib.GetUnifiedDiffString(d)
		if err != nil {
			b.WriteString("(cannot diff " + p + ": " + err.Error() + ")\n")
			continue
		}
		b.WriteString("diff --git a/" + p + " b/" + p + "\n")
		b.WriteString(text)
	}
	return b.String()
}

// splitLines splits text into lines that keep their newline; a last line
// without one is marked the way git marks it.
func splitLines(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	lines := strings.SplitAfter(string(b), "\n")
	if lines[len(lines)-1] == "" {
		return lines[:len(lines)-1]
	}
	lines[len(lines)-1] += "\n\\ No newline at end of file\n"
	return lines
}
