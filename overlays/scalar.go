package overlays

import (
	"regexp"
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// plainSafe matches strings that YAML reads back as the same string when
// written unquoted, in block and in flow context: label values, paths,
// host names, IP addresses.
var plainSafe = regexp.MustCompile(`^[A-Za-z0-9_./][A-Za-z0-9_./@+=:-]*$`)

// yaml11Words are read as booleans or null by YAML 1.1 parsers (which
// sigs.k8s.io/yaml, used by Kubernetes and Argo CD, still is).
var yaml11Words = map[string]bool{
	"y": true, "yes": true, "n": true, "no": true, "true": true, "false": true,
	"on": true, "off": true, "null": true, "~": true,
}

// renderScalar writes value as a YAML scalar in the style of the token it
// replaces: double quotes stay double, single stay single, and plain stays
// plain when the value reads back as the same string; otherwise it is
// double-quoted. It returns the text and the style written.
func renderScalar(value string, style yaml.Style, inFlow bool) (string, yaml.Style) {
	switch {
	case style&yaml.DoubleQuotedStyle != 0:
		return strconv.Quote(value), yaml.DoubleQuotedStyle
	case style&yaml.SingleQuotedStyle != 0 && !strings.ContainsAny(value, "\n\r\t"):
		return "'" + strings.ReplaceAll(value, "'", "''") + "'", yaml.SingleQuotedStyle
	case isPlainSafe(value, inFlow):
		return value, 0
	default:
		return strconv.Quote(value), yaml.DoubleQuotedStyle
	}
}

// isPlainSafe reports whether value can be written without quotes.
func isPlainSafe(value string, inFlow bool) bool {
	if !plainSafe.MatchString(value) || yaml11Words[strings.ToLower(value)] {
		return false
	}
	if strings.Contains(value, ": ") || strings.HasSuffix(value, ":") {
		return false
	}
	if _, err := strconv.ParseFloat(value, 64); err == nil {
		return false
	}
	if _, err := strconv.ParseInt(strings.ReplaceAll(value, "_", ""), 0, 64); err == nil {
		return false
	}
	// Anything else YAML would resolve to a non-string (dates, sexagesimals…).
	var n yaml.Node
	if err := yaml.Unmarshal([]byte("v: "+value), &n); err != nil || len(n.Content) == 0 {
		return false
	}
	v := n.Content[0].Content[1]
	return v.Tag == "!!str" && v.Value == value
}
