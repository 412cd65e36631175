package git

import (
	"net/textproto"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/object"
)

// The trailer keys gitover writes into its commit messages.
const (
	TrailerPlan   = "Gitover-Plan"
	TrailerAction = "Gitover-Action"
	TrailerTarget = "Gitover-Target"
)

// trailerPrefix marks every trailer key that belongs to gitover.
const trailerPrefix = "Gitover-"

// Signature is a commit author or committer. A zero When means "now".
type Signature struct {
	Name  string
	Email string
	When  time.Time
}

// DefaultIdentity is used when a request names no author.
var DefaultIdentity = Signature{Name: "gitover", Email: "gitover@localhost"}

// orDefault returns s, or DefaultIdentity when s has no name and email.
func (s Signature) orDefault() Signature {
	if s.Name == "" && s.Email == "" {
		d := DefaultIdentity
		d.When = s.When
		return d
	}
	return s
}

// object converts s to go-git's signature, stamping the time if unset.
func (s Signature) object(now time.Time) object.Signature {
	when := s.When
	if when.IsZero() {
		when = now
	}
	return object.Signature{Name: s.Name, Email: s.Email, When: when}
}

// Trailers returns msg with the given key/value trailers appended, git
// style: they join msg's final paragraph when that already is a trailer
// block, and otherwise start a new paragraph after a blank line. Keys keep
// only letters, digits and '-'; line breaks in values become spaces. The
// result ends with a newline.
func Trailers(msg string, kv ...[2]string) string {
	msg = strings.TrimRight(msg, " \t\r\n")
	if len(kv) == 0 {
		return msg + "\n"
	}
	var b strings.Builder
	b.WriteString(msg)
	paras := paragraphs(msg)
	if len(paras) > 1 && isTrailerBlock(paras[len(paras)-1]) {
		b.WriteString("\n")
	} else if msg != "" {
		b.WriteString("\n\n")
	}
	for _, p := range kv {
		b.WriteString(cleanKey(p[0]))
		b.WriteString(": ")
		b.WriteString(strings.Join(strings.Fields(p[1]), " "))
		b.WriteString("\n")
	}
	return b.String()
}

// ParseTrailers returns the trailers of msg's final paragraph, keyed by
// canonical key ("gitover-plan" reads as "Gitover-Plan"), values in order.
// The subject paragraph never counts as trailers. The final paragraph counts
// when every line is a trailer (or an indented continuation), or — as git
// allows for hand-edited messages — when at least a quarter of its lines are
// trailers and one of them is gitover's. It returns nil when there are none.
func ParseTrailers(msg string) map[string][]string {
	paras := paragraphs(strings.TrimRight(msg, " \t\r\n"))
	if len(paras) < 2 {
		return nil
	}
	last := paras[len(paras)-1]
	if !isTrailerBlock(last) {
		return nil
	}
	out := map[string][]string{}
	var lastKey string
	for _, line := range last {
		if k, v, ok := splitTrailer(line); ok {
			lastKey = textproto.CanonicalMIMEHeaderKey(k)
			out[lastKey] = append(out[lastKey], v)
			continue
		}
		if lastKey != "" && (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) {
			vals := out[lastKey]
			vals[len(vals)-1] += " " + strings.TrimSpace(line)
		}
	}
	return out
}

// IsGitoverMessage reports whether msg carries at least one Gitover-* trailer.
func IsGitoverMessage(msg string) bool {
	for k := range ParseTrailers(msg) {
		if strings.HasPrefix(k, trailerPrefix) {
			return true
		}
	}
	return false
}

// paragraphs splits msg into blank-line separated groups of lines.
func paragraphs(msg string) [][]string {
	var out [][]string
	var cur []string
	for _, line := range strings.Split(strings.ReplaceAll(msg, "\r\n", "\n"), "\n") {
		if strings.TrimSpace(line) == "" {
			if len(cur) > 0 {
				out = append(out, cur)
				cur = nil
			}
			continue
		}
		cur = append(cur, line)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// isTrailerBlock applies ParseTrailers' rule to one paragraph.
func isTrailerBlock(lines []string) bool {
	trailers, others, ours := 0, 0, false
	for i, line := range lines {
		if k, _, ok := splitTrailer(line); ok {
			trailers++
			ours = ours || strings.HasPrefix(textproto.CanonicalMIMEHeaderKey(k), trailerPrefix)
			continue
		}
		if i > 0 && (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) {
			continue // continuation of the previous line
		}
		others++
	}
	if trailers == 0 {
		return false
	}
	return others == 0 || (ours && trailers*3 >= others)
}

// splitTrailer parses "Key: value" where Key is letters, digits and '-'.
func splitTrailer(line string) (key, value string, ok bool) {
	i := strings.IndexByte(line, ':')
	if i <= 0 {
		return "", "", false
	}
	key = line[:i]
	for _, r := range key {
		if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return "", "", false
		}
	}
	return key, strings.TrimSpace(line[i+1:]), true
}

// cleanKey keeps the characters a trailer key may contain.
func cleanKey(k string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return -1
	}, k)
}
