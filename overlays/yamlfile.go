package overlays

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"unicode/utf8"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// yamlFile is one repository file of YAML documents, parsed with kyaml's
// YAML library so that every node keeps its line and column.
//
// Edits are made at two levels at once. The kyaml node tree is edited (a
// scalar's value set, an element appended); and the same edit is recorded as
// a splice of the original bytes at the node's exact position. The file is
// written from the splices, so every byte outside an edited token — comments,
// key order, indentation, quoting, document separators — stays as it was.
// Before the result is accepted it is parsed again and must decode to
// exactly the edited kyaml tree (see result).
type yamlFile struct {
	path    string
	src     []byte
	docs    []*yaml.Node // document nodes, in file order
	lines   []int        // byte offset of the start of each line (index 0 = line 1)
	splices []splice
	index   map[string][]int // name -> indexes into objs, built on first find
	objs    []object
}

// splice replaces src[start:end] with text.
type splice struct {
	start, end int
	text       string
}

// object is one Kubernetes object (a document whose root is a mapping).
type object struct {
	root       *yaml.RNode
	apiVersion string
	kind       string
	name       string
	line       int
}

// id is the object's Kind/name, as messages print it.
func (o *object) id() string { return o.kind + "/" + o.name }

// parseYAMLFile parses every document of src.
func parseYAMLFile(path string, src []byte) (*yamlFile, error) {
	f := &yamlFile{path: path, src: src, lines: []int{0}}
	for i, b := range src {
		if b == '\n' {
			f.lines = append(f.lines, i+1)
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fileErr(ErrMalformed, path, 0, "", "not valid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		f.docs = append(f.docs, &doc)
	}
	return f, nil
}

// objects lists the documents that are Kubernetes objects.
func (f *yamlFile) objects() []object {
	var out []object
	for _, doc := range f.docs {
		if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
			continue
		}
		rn := yaml.NewRNode(doc.Content[0])
		o := object{root: rn, line: doc.Content[0].Line}
		o.apiVersion = scalarAt(rn, "apiVersion")
		o.kind = scalarAt(rn, "kind")
		o.name = scalarAt(rn, "metadata", "name")
		out = append(out, o)
	}
	return out
}

// find returns the single object of one of kinds named name. Files with
// thousands of documents are indexed once, so lookups stay cheap.
func (f *yamlFile) find(kinds []string, name string) (*object, error) {
	if f.index == nil {
		f.objs = f.objects()
		f.index = make(map[string][]int, len(f.objs))
		for i, o := range f.objs {
			f.index[o.name] = append(f.index[o.name], i)
		}
	}
	var found []object
	for _, i := range f.index[name] {
		if contains(kinds, f.objs[i].kind) {
			found = append(found, f.objs[i])
		}
	}
	var others []string
	if len(found) == 0 {
		for _, o := range f.objs {
			if o.kind != "" && len(others) < 10 {
				others = append(others, o.id())
			}
		}
		if len(f.objs) > 10 {
			others = append(others, fmt.Sprintf("and %d more", len(f.objs)-10))
		}
	}
	switch len(found) {
	case 1:
		return &found[0], nil
	case 0:
		msg := fmt.Sprintf("no %s named %q in this file", strings.Join(kinds, " or "), name)
		if len(others) > 0 {
			msg += " (it holds " + strings.Join(others, ", ") + ")"
		} else if len(f.docs) == 0 {
			msg += " (the file is empty)"
		}
		return nil, fileErr(ErrMissing, f.path, 0, "", "%s", msg)
	default:
		return nil, fileErr(ErrMalformed, f.path, found[1].line, found[1].id(), "defined %d times in this file", len(found))
	}
}

// scalarAt returns the scalar value at a path of mapping keys, or "".
func scalarAt(rn *yaml.RNode, path ...string) string {
	n, err := rn.Pipe(yaml.Lookup(path...))
	if err != nil || n == nil || n.YNode().Kind != yaml.ScalarNode {
		return ""
	}
	return n.YNode().Value
}

// offset converts a node's line and column (columns count characters) to a byte offset.
func (f *yamlFile) offset(n *yaml.Node) (int, error) {
	if n.Line < 1 || n.Line > len(f.lines) {
		return 0, fileErr(ErrInternal, f.path, n.Line, "", "node position out of range")
	}
	off := f.lines[n.Line-1]
	for col := 1; col < n.Column; col++ {
		if off >= len(f.src) || f.src[off] == '\n' {
			return 0, fileErr(ErrInternal, f.path, n.Line, "", "node column out of range")
		}
		_, size := utf8.DecodeRune(f.src[off:])
		off += size
	}
	return off, nil
}

// scalarToken returns the byte range of a scalar's token in src, including
// its quotes but not its tag.
func (f *yamlFile) scalarToken(n *yaml.Node) (int, int, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, 0, fileErr(ErrMalformed, f.path, n.Line, "", "expected a scalar value, found a %s", kindName(n.Kind))
	}
	start, err := f.offset(n)
	if err != nil {
		return 0, 0, err
	}
	if n.Style&yaml.TaggedStyle != 0 {
		// The position points at the tag: skip it and the blanks after it.
		for start < len(f.src) && !isBlank(f.src[start]) {
			start++
		}
		for start < len(f.src) && (f.src[start] == ' ' || f.src[start] == '\t') {
			start++
		}
	}
	unsupported := func(what string) (int, int, error) {
		return 0, 0, fileErr(ErrUnsupported, f.path, n.Line, "", "cannot edit the %s value %q in place; write it as a one-line scalar", what, n.Value)
	}
	switch {
	case n.Style&yaml.DoubleQuotedStyle != 0:
		if start >= len(f.src) || f.src[start] != '"' {
			return unsupported("double-quoted")
		}
		for i := start + 1; i < len(f.src); i++ {
			switch f.src[i] {
			case '\\':
				i++
			case '"':
				return start, i + 1, nil
			}
		}
		return unsupported("double-quoted")
	case n.Style&yaml.SingleQuotedStyle != 0:
		if start >= len(f.src) || f.src[start] != '\'' {
			return unsupported("single-quoted")
		}
		for i := start + 1; i < len(f.src); i++ {
			if f.src[i] == '\'' {
				if i+1 < len(f.src) && f.src[i+1] == '\'' {
					i++
					continue
				}
				return start, i + 1, nil
			}
		}
		return unsupported("single-quoted")
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		return unsupported("block")
	default:
		end := start + len(n.Value)
		if strings.Contains(n.Value, "\n") || end > len(f.src) || string(f.src[start:end]) != n.Value {
			return unsupported("multi-line")
		}
		return start, end, nil
	}
}

// setScalar sets a scalar node to value, keeping its quoting style.
// inFlow tells whether the node sits inside a flow collection ([...] or {...}).
func (f *yamlFile) setScalar(n *yaml.Node, value string, inFlow bool) error {
	if n.Kind == yaml.AliasNode {
		return fileErr(ErrUnsupported, f.path, n.Line, "", "value is a YAML alias (*%s); gitover edits only literal values", n.Value)
	}
	if n.Kind == yaml.ScalarNode && n.Value == value && n.Tag != "!!null" {
		return nil
	}
	start, end, err := f.scalarToken(n)
	if err != nil {
		return err
	}
	text, style := renderScalar(value, n.Style, inFlow)
	f.splices = append(f.splices, splice{start: start, end: end, text: text})
	n.Value, n.Tag, n.Style = value, "!!str", style|(n.Style&yaml.TaggedStyle)
	return nil
}

// appendScalar appends a scalar element to a sequence node.
func (f *yamlFile) appendScalar(seq *yaml.Node, value string) error {
	if seq.Kind != yaml.SequenceNode {
		return fileErr(ErrMalformed, f.path, seq.Line, "", "expected a list, found a %s", kindName(seq.Kind))
	}
	flow := seq.Style&yaml.FlowStyle != 0
	text, style := renderScalar(value, 0, flow)
	switch {
	case flow:
		if err := f.appendFlow(seq, text); err != nil {
			return err
		}
	case len(seq.Content) == 0:
		return fileErr(ErrUnsupported, f.path, seq.Line, "", "cannot append to an empty block list")
	default:
		if err := f.appendBlock(seq, text); err != nil {
			return err
		}
	}
	seq.Content = append(seq.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value, Style: style})
	return nil
}

// appendBlock inserts "- text" on a new line after a block list's last element.
func (f *yamlFile) appendBlock(seq *yaml.Node, text string) error {
	first, last := seq.Content[0], seq.Content[len(seq.Content)-1]
	if last.Kind != yaml.ScalarNode {
		return fileErr(ErrUnsupported, f.path, last.Line, "", "cannot append after a non-scalar list element")
	}
	firstOff, err := f.offset(first)
	if err != nil {
		return err
	}
	// The dash of the first element fixes the indentation and the gap after it.
	lineStart := f.lines[first.Line-1]
	dash := bytes.LastIndexByte(f.src[lineStart:firstOff], '-')
	if dash < 0 || strings.TrimLeft(string(f.src[lineStart:lineStart+dash]), " ") != "" {
		return fileErr(ErrUnsupported, f.path, first.Line, "", "cannot find the list's dash to match its indentation")
	}
	prefix := string(f.src[lineStart : lineStart+dash+1])
	gap := string(f.src[lineStart+dash+1 : firstOff])
	if strings.Trim(gap, " ") != "" {
		return fileErr(ErrUnsupported, f.path, first.Line, "", "cannot match the list's layout")
	}
	_, lastEnd, err := f.scalarToken(last)
	if err != nil {
		return err
	}
	nl := bytes.IndexByte(f.src[lastEnd:], '\n')
	if nl < 0 {
		f.splices = append(f.splices, splice{start: len(f.src), end: len(f.src), text: "\n" + prefix + gap + text})
		return nil
	}
	at := lastEnd + nl + 1
	f.splices = append(f.splices, splice{start: at, end: at, text: prefix + gap + text + "\n"})
	return nil
}

// appendFlow inserts an element before a flow list's closing bracket.
func (f *yamlFile) appendFlow(seq *yaml.Node, text string) error {
	if len(seq.Content) > 0 {
		last := seq.Content[len(seq.Content)-1]
		if last.Kind != yaml.ScalarNode {
			return fileErr(ErrUnsupported, f.path, last.Line, "", "cannot append after a non-scalar list element")
		}
		_, end, err := f.scalarToken(last)
		if err != nil {
			return err
		}
		f.splices = append(f.splices, splice{start: end, end: end, text: ", " + text})
		return nil
	}
	open, err := f.offset(seq)
	if err != nil {
		return err
	}
	if open >= len(f.src) || f.src[open] != '[' {
		return fileErr(ErrUnsupported, f.path, seq.Line, "", "cannot find the list's opening bracket")
	}
	closing := bytes.IndexByte(f.src[open:], ']')
	if closing < 0 {
		return fileErr(ErrMalformed, f.path, seq.Line, "", "flow list without closing bracket")
	}
	f.splices = append(f.splices, splice{start: open + 1, end: open + closing, text: text})
	return nil
}

// addListKey adds "key:" with a one-element block list to the end of the
// file's only document, whose root must be a block mapping.
func (f *yamlFile) addListKey(root *yaml.Node, key, value string) error {
	if len(f.docs) != 1 || root.Kind != yaml.MappingNode || root.Style&yaml.FlowStyle != 0 {
		return fileErr(ErrUnsupported, f.path, root.Line, "", "can add %q only to a file holding one block mapping", key)
	}
	indent := strings.Repeat(" ", root.Column-1)
	// Follow the file's own list style: "- x" under the key, or indented "  - x".
	seqIndent := ""
	for i := 1; i < len(root.Content); i += 2 {
		v := root.Content[i]
		if v.Kind == yaml.SequenceNode && v.Style&yaml.FlowStyle == 0 && len(v.Content) > 0 && v.Content[0].Line > 0 {
			if col := f.dashColumn(v.Content[0]); col > root.Column {
				seqIndent = strings.Repeat(" ", col-root.Column)
			}
			break
		}
	}
	text, style := renderScalar(value, 0, false)
	add := indent + key + ":\n" + indent + seqIndent + "- " + text + "\n"
	if len(f.src) > 0 && f.src[len(f.src)-1] != '\n' {
		add = "\n" + add
	}
	f.splices = append(f.splices, splice{start: len(f.src), end: len(f.src), text: add})
	root.Content = append(root.Content,
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key},
		&yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{{Kind: yaml.ScalarNode, Tag: "!!str", Value: value, Style: style}}})
	return nil
}

// dashColumn is the column of the dash before a block list element, or 0.
func (f *yamlFile) dashColumn(elem *yaml.Node) int {
	off, err := f.offset(elem)
	if err != nil {
		return 0
	}
	lineStart := f.lines[elem.Line-1]
	dash := bytes.LastIndexByte(f.src[lineStart:off], '-')
	if dash < 0 {
		return 0
	}
	return dash + 1
}

// changed reports whether any edit was recorded.
func (f *yamlFile) changed() bool { return len(f.splices) > 0 }

// result applies the splices and proves that the new bytes decode to the
// edited node tree, document by document.
func (f *yamlFile) result() ([]byte, error) {
	if !f.changed() {
		return f.src, nil
	}
	sp := append([]splice(nil), f.splices...)
	sort.SliceStable(sp, func(i, j int) bool { return sp[i].start < sp[j].start })
	var out bytes.Buffer
	out.Grow(len(f.src) + 256)
	pos := 0
	for _, s := range sp {
		if s.start < pos {
			return nil, fileErr(ErrInternal, f.path, 0, "", "overlapping edits")
		}
		out.Write(f.src[pos:s.start])
		out.WriteString(s.text)
		pos = s.end
	}
	out.Write(f.src[pos:])
	b := out.Bytes()

	again, err := parseYAMLFile(f.path, b)
	if err != nil {
		return nil, fileErr(ErrInternal, f.path, 0, "", "edited file no longer parses: %v", err)
	}
	if len(again.docs) != len(f.docs) {
		return nil, fileErr(ErrInternal, f.path, 0, "", "edit changed the number of documents from %d to %d", len(f.docs), len(again.docs))
	}
	for i := range f.docs {
		var want, got any
		if err := f.docs[i].Decode(&want); err != nil {
			return nil, fileErr(ErrInternal, f.path, 0, "", "decoding edited document %d: %v", i+1, err)
		}
		if err := again.docs[i].Decode(&got); err != nil {
			return nil, fileErr(ErrInternal, f.path, 0, "", "decoding written document %d: %v", i+1, err)
		}
		if !reflect.DeepEqual(want, got) {
			return nil, fileErr(ErrInternal, f.path, 0, "", "written document %d does not match the edit", i+1)
		}
	}
	return b, nil
}

// kindName names a YAML node kind for messages.
func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "scalar"
	case yaml.AliasNode:
		return "alias"
	case yaml.DocumentNode:
		return "document"
	}
	return "nothing"
}

func isBlank(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
