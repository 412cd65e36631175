// Package wirecheck compares a project's own, partial copies of foreign API
// types with the originals on the wire (JSON). It lists the JSON paths a Go
// type declares, checks that a fixture sets every one of them, keeps only
// those paths of a document, fills a value of a type with distinctive
// values, and runs the two round trips (official -> ours -> official and
// ours -> official -> ours).
//
// It imports no Argo CD code, so the modules that test gitover's types
// against different Argo CD releases (each pinning its own Kubernetes
// libraries) share it.
package wirecheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	sigsjson "sigs.k8s.io/json"
)

// opaqueTypes are compared as whole values: their JSON shape is not their Go
// shape, or they are shared Kubernetes types whose insides are not ours to
// check field by field.
var opaqueTypes = map[string]bool{
	"k8s.io/apimachinery/pkg/apis/meta/v1.ObjectMeta":               true,
	"k8s.io/apimachinery/pkg/apis/meta/v1.ListMeta":                 true,
	"k8s.io/apimachinery/pkg/apis/meta/v1.Time":                     true,
	"k8s.io/apimachinery/pkg/apis/meta/v1.MicroTime":                true,
	"k8s.io/apimachinery/pkg/apis/meta/v1.Duration":                 true,
	"k8s.io/apimachinery/pkg/apis/meta/v1.LabelSelector":            true,
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1.JSON": true,
	"k8s.io/apimachinery/pkg/runtime.RawExtension":                  true,
	"k8s.io/apimachinery/pkg/util/intstr.IntOrString":               true,
	"k8s.io/apimachinery/pkg/api/resource.Quantity":                 true,
}

var (
	marshalerType   = reflect.TypeFor[json.Marshaler]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
)

// typeName is "import/path.Name" for named types.
func typeName(t reflect.Type) string { return t.PkgPath() + "." + t.Name() }

// Opaque reports whether values of t are compared as a whole: the listed
// Kubernetes types and every type with its own JSON (un)marshaler.
func Opaque(t reflect.Type) bool {
	if opaqueTypes[typeName(t)] {
		return true
	}
	return t.Implements(marshalerType) || reflect.PointerTo(t).Implements(marshalerType) ||
		reflect.PointerTo(t).Implements(unmarshalerType)
}

// field is one JSON member of a struct, after flattening embedded structs.
type field struct {
	name  string
	index []int
	typ   reflect.Type
}

// fields lists t's JSON members the way encoding/json names them: the tag
// name or the Go name, "-" skipped, unexported fields skipped, embedded
// structs without a tag name flattened. Conflicting names are an error
// (encoding/json would silently drop both).
func fields(t reflect.Type) ([]field, error) {
	var out []field
	var walk func(t reflect.Type, index []int) error
	walk = func(t reflect.Type, index []int) error {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			idx := append(append([]int(nil), index...), i)
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if f.Anonymous && name == "" && ft.Kind() == reflect.Struct && !Opaque(ft) {
				if err := walk(ft, idx); err != nil {
					return err
				}
				continue
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			out = append(out, field{name: name, index: idx, typ: f.Type})
		}
		return nil
	}
	if err := walk(t, nil); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, f := range out {
		if seen[f.name] {
			return nil, fmt.Errorf("%s: two fields are named %q in JSON", t, f.name)
		}
		seen[f.name] = true
	}
	return out, nil
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// holdsStruct reports whether t is a (pointer to a, slice of a) non-Opaque
// struct, i.e. whether its members get paths of their own.
func holdsStruct(t reflect.Type) bool {
	t = deref(t)
	switch {
	case Opaque(t):
		return false
	case t.Kind() == reflect.Struct:
		return true
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		return holdsStruct(t.Elem())
	}
	return false
}

// Paths returns the sorted leaf JSON paths t declares, e.g.
// "spec.source.repoURL" or "spec.sources[].path". Struct fields are followed;
// a slice of structs adds "[]"; pointers are transparent; scalars, maps,
// slices of scalars and Opaque types are leaves.
func Paths(t reflect.Type) ([]string, error) {
	var out []string
	stack := map[reflect.Type]bool{}
	var walk func(t reflect.Type, path string) error
	walk = func(t reflect.Type, path string) error {
		t = deref(t)
		if Opaque(t) {
			out = append(out, path)
			return nil
		}
		switch t.Kind() {
		case reflect.Struct:
			if stack[t] {
				return fmt.Errorf("%s: recursive type %s is not supported", path, t)
			}
			stack[t] = true
			defer delete(stack, t)
			fs, err := fields(t)
			if err != nil {
				return err
			}
			for _, f := range fs {
				if err := walk(f.typ, join(path, f.name)); err != nil {
					return err
				}
			}
			if len(fs) == 0 {
				out = append(out, path)
			}
			return nil
		case reflect.Slice, reflect.Array:
			if e := t.Elem(); holdsStruct(e) {
				return walk(e, path+"[]")
			}
		case reflect.Interface, reflect.Chan, reflect.Func:
			return fmt.Errorf("%s: %s cannot be checked on the wire", path, t)
		}
		out = append(out, path)
		return nil
	}
	if err := walk(t, ""); err != nil {
		return nil, err
	}
	sort.Strings(out)
	return out, nil
}

// steps splits a path into member names and "[]" (every array element).
func steps(path string) []string {
	var out []string
	for seg := range strings.SplitSeq(path, ".") {
		name := strings.TrimRight(seg, "[]")
		if name != "" {
			out = append(out, name)
		}
		for range (len(seg) - len(name)) / 2 {
			out = append(out, "[]")
		}
	}
	return out
}

// Generic decodes JSON into maps, slices and scalars, numbers as json.Number.
func Generic(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// zero reports whether a generic JSON value carries no information.
func zero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case bool:
		return !x
	case json.Number:
		f, err := x.Float64()
		return err == nil && f == 0
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

// set reports whether the path has a non-zero value in doc; under "[]" one
// element is enough.
func set(v any, st []string) bool {
	if len(st) == 0 {
		return !zero(v)
	}
	if st[0] == "[]" {
		arr, _ := v.([]any)
		for _, e := range arr {
			if set(e, st[1:]) {
				return true
			}
		}
		return false
	}
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	child, ok := m[st[0]]
	return ok && set(child, st[1:])
}

// First returns the first non-zero value at path in doc (under "[]", the
// first element that has one).
func First(doc any, path string) (any, bool) {
	var walk func(v any, st []string) (any, bool)
	walk = func(v any, st []string) (any, bool) {
		if len(st) == 0 {
			return v, !zero(v)
		}
		if st[0] == "[]" {
			arr, _ := v.([]any)
			for _, e := range arr {
				if got, ok := walk(e, st[1:]); ok {
					return got, true
				}
			}
			return nil, false
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		child, ok := m[st[0]]
		if !ok {
			return nil, false
		}
		return walk(child, st[1:])
	}
	return walk(doc, steps(path))
}

// Missing returns the paths that doc leaves absent or zero (empty string,
// false, 0, null, {} or []): a fixture must give each a distinctive value,
// or a field that does not round-trip would go unnoticed.
func Missing(doc any, paths []string) []string {
	var out []string
	for _, p := range paths {
		if !set(doc, steps(p)) {
			out = append(out, p)
		}
	}
	return out
}

// trie holds the paths to keep, one level per step.
type trie struct {
	leaf bool
	kids map[string]*trie
}

func newTrie(paths []string) *trie {
	root := &trie{kids: map[string]*trie{}}
	for _, p := range paths {
		n := root
		for _, s := range steps(p) {
			c, ok := n.kids[s]
			if !ok {
				c = &trie{kids: map[string]*trie{}}
				n.kids[s] = c
			}
			n = c
		}
		n.leaf = true
	}
	return root
}

func (n *trie) project(v any) any {
	if n.leaf {
		return v
	}
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, c := range n.kids {
			if child, ok := x[k]; ok && k != "[]" {
				out[k] = c.project(child)
			}
		}
		return out
	case []any:
		c, ok := n.kids["[]"]
		if !ok {
			return x
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = c.project(e)
		}
		return out
	}
	// A scalar where the paths expect an object or array: keep it, so
	// that the comparison shows the mismatch.
	return v
}

// Project returns doc with only the given paths (and the objects and arrays
// that lead to them).
func Project(doc any, paths []string) any { return newTrie(paths).project(doc) }

// Diff lists where two generic JSON documents differ, one line per leaf.
func Diff(a, b any) []string {
	var out []string
	var walk func(path string, a, b any)
	walk = func(path string, a, b any) {
		am, aok := a.(map[string]any)
		bm, bok := b.(map[string]any)
		if aok && bok {
			keys := map[string]bool{}
			for k := range am {
				keys[k] = true
			}
			for k := range bm {
				keys[k] = true
			}
			sorted := make([]string, 0, len(keys))
			for k := range keys {
				sorted = append(sorted, k)
			}
			sort.Strings(sorted)
			for _, k := range sorted {
				av, ain := am[k]
				bv, bin := bm[k]
				switch {
				case !ain:
					out = append(out, fmt.Sprintf("%s: absent != %s", join(path, k), show(bv)))
				case !bin:
					out = append(out, fmt.Sprintf("%s: %s != absent", join(path, k), show(av)))
				default:
					walk(join(path, k), av, bv)
				}
			}
			return
		}
		aa, aok := a.([]any)
		ba, bok := b.([]any)
		if aok && bok && len(aa) == len(ba) {
			for i := range aa {
				walk(fmt.Sprintf("%s[%d]", path, i), aa[i], ba[i])
			}
			return
		}
		if !reflect.DeepEqual(a, b) {
			out = append(out, fmt.Sprintf("%s: %s != %s", path, show(a), show(b)))
		}
	}
	walk("", a, b)
	return out
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// Decode unmarshals data into v case-sensitively, as Kubernetes clients and
// the API server do (encoding/json alone would accept "repoUrl" for
// "repoURL").
func Decode(data []byte, v any) error { return sigsjson.UnmarshalCaseSensitivePreserveInts(data, v) }

// DecodeStrict is Decode that also fails on members v's type does not
// declare and on duplicate members.
func DecodeStrict(data []byte, v any) error {
	strict, err := sigsjson.UnmarshalStrict(data, v, sigsjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// LeafFunc supplies the JSON of a leaf at path (for Opaque types without a
// default, e.g. apiextensions JSON, whose content must suit the official
// type); ok=false means "use the default".
type LeafFunc func(path string, t reflect.Type) (raw json.RawMessage, ok bool)

// Fill returns a new *T with every leaf path set to a distinctive non-zero
// value: strings "<member>-<n>", numbers n, booleans true, two elements per
// slice, two entries per map, and a default or leaf's value for Opaque types.
func Fill[T any](leaf LeafFunc) (*T, error) {
	v := new(T)
	f := &filler{leaf: leaf, n: 100}
	if err := f.fill(reflect.ValueOf(v).Elem(), ""); err != nil {
		return nil, err
	}
	return v, nil
}

type filler struct {
	leaf LeafFunc
	n    int
}

func (f *filler) next() int { f.n++; return f.n }

// defaultLeaf is the JSON of an Opaque value nobody supplied.
func (f *filler) defaultLeaf(path string, t reflect.Type) (json.RawMessage, bool) {
	n := f.next()
	var s string
	switch typeName(t) {
	case "k8s.io/apimachinery/pkg/apis/meta/v1.Time":
		s = fmt.Sprintf(`"2026-03-04T05:%02d:%02dZ"`, n/60%60, n%60)
	case "k8s.io/apimachinery/pkg/apis/meta/v1.MicroTime":
		s = fmt.Sprintf(`"2026-03-04T05:06:07.%06dZ"`, n)
	case "k8s.io/apimachinery/pkg/apis/meta/v1.Duration":
		s = fmt.Sprintf(`"%dm%ds"`, n, n%60)
	case "k8s.io/apimachinery/pkg/apis/meta/v1.ObjectMeta":
		s = fmt.Sprintf(`{"name":"name-%[1]d","namespace":"ns-%[1]d","uid":"uid-%[1]d","resourceVersion":"%[1]d","generation":%[1]d,`+
			`"creationTimestamp":"2026-01-02T03:04:05Z","labels":{"label-%[1]d":"value-%[1]d"},`+
			`"annotations":{"annotation-%[1]d":"value-%[1]d"},"finalizers":["finalizer-%[1]d"]}`, n)
	case "k8s.io/apimachinery/pkg/apis/meta/v1.ListMeta":
		s = fmt.Sprintf(`{"resourceVersion":"%[1]d","continue":"continue-%[1]d"}`, n)
	case "k8s.io/apimachinery/pkg/apis/meta/v1.LabelSelector":
		s = fmt.Sprintf(`{"matchLabels":{"label-%[1]d":"value-%[1]d"},`+
			`"matchExpressions":[{"key":"key-%[1]d","operator":"In","values":["a-%[1]d","b-%[1]d"]}]}`, n)
	case "k8s.io/apimachinery/pkg/util/intstr.IntOrString":
		s = fmt.Sprintf(`"port-%d"`, n)
	case "k8s.io/apimachinery/pkg/api/resource.Quantity":
		s = fmt.Sprintf(`"%dMi"`, n)
	default:
		return nil, false
	}
	return json.RawMessage(s), true
}

func (f *filler) fill(v reflect.Value, path string) error {
	t := v.Type()
	if t.Kind() == reflect.Pointer {
		p := reflect.New(t.Elem())
		if err := f.fill(p.Elem(), path); err != nil {
			return err
		}
		v.Set(p)
		return nil
	}
	if f.leaf != nil {
		if raw, ok := f.leaf(path, t); ok {
			return json.Unmarshal(raw, v.Addr().Interface())
		}
	}
	if Opaque(t) {
		raw, ok := f.defaultLeaf(path, t)
		if !ok {
			return fmt.Errorf("%s: no value for %s; supply one with the LeafFunc", path, t)
		}
		return json.Unmarshal(raw, v.Addr().Interface())
	}
	member := path[strings.LastIndex(path, ".")+1:]
	member = strings.TrimRight(member, "[]")
	switch t.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("%s-%d", member, f.next()))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(f.next() % 100))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(f.next() % 100))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(f.next()) + 0.5)
	case reflect.Slice:
		s := reflect.MakeSlice(t, 2, 2)
		for i := range 2 {
			if err := f.fill(s.Index(i), path+"[]"); err != nil {
				return err
			}
		}
		v.Set(s)
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return fmt.Errorf("%s: map keys of %s must be strings", path, t)
		}
		m := reflect.MakeMap(t)
		for range 2 {
			k := reflect.New(t.Key()).Elem()
			k.SetString(fmt.Sprintf("%s-key-%d", member, f.next()))
			e := reflect.New(t.Elem()).Elem()
			if err := f.fill(e, path+"{}"); err != nil {
				return err
			}
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Struct:
		fs, err := fields(t)
		if err != nil {
			return err
		}
		for _, fl := range fs {
			fv, err := fieldByIndexAlloc(v, fl.index)
			if err != nil {
				return err
			}
			if err := f.fill(fv, join(path, fl.name)); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("%s: cannot fill %s", path, t)
	}
	return nil
}

// fieldByIndexAlloc is Value.FieldByIndex that allocates nil embedded
// pointers on the way.
func fieldByIndexAlloc(v reflect.Value, index []int) (reflect.Value, error) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	if !v.CanSet() {
		return v, fmt.Errorf("field %v of %s cannot be set", index, v.Type())
	}
	return v, nil
}

// OfficialToOurs checks that everything ours declares survives
// official -> JSON -> ours -> JSON -> official: official (a pointer to a
// fully populated official object) must set every path ours declares;
// decoding into ours (case-sensitively) must keep each value; ours' JSON must
// decode strictly into the official type (no member the official type does
// not know, no case mismatch); and the final official object must carry the
// same values at those paths. newOurs and newOfficial return new, empty
// pointers of the two types.
func OfficialToOurs(official any, newOurs, newOfficial func() any) error {
	paths, err := Paths(reflect.TypeOf(newOurs()))
	if err != nil {
		return err
	}
	orig, err := json.Marshal(official)
	if err != nil {
		return fmt.Errorf("marshal official fixture: %w", err)
	}
	origDoc, err := Generic(orig)
	if err != nil {
		return err
	}
	if m := Missing(origDoc, paths); len(m) > 0 {
		return fmt.Errorf("the official fixture does not set %d path(s) our type declares; give each a distinctive value:\n  %s",
			len(m), strings.Join(m, "\n  "))
	}
	want := Project(origDoc, paths)

	ours := newOurs()
	if err := Decode(orig, ours); err != nil {
		return fmt.Errorf("official JSON -> ours: %w", err)
	}
	oursJSON, err := json.Marshal(ours)
	if err != nil {
		return fmt.Errorf("marshal ours: %w", err)
	}
	oursDoc, err := Generic(oursJSON)
	if err != nil {
		return err
	}
	if d := Diff(want, Project(oursDoc, paths)); len(d) > 0 {
		return fmt.Errorf("official -> ours loses or changes declared values:\n  %s", strings.Join(d, "\n  "))
	}

	back := newOfficial()
	if err := DecodeStrict(oursJSON, back); err != nil {
		return fmt.Errorf("ours JSON -> official (strict): %w", err)
	}
	backJSON, err := json.Marshal(back)
	if err != nil {
		return fmt.Errorf("marshal official: %w", err)
	}
	backDoc, err := Generic(backJSON)
	if err != nil {
		return err
	}
	if d := Diff(want, Project(backDoc, paths)); len(d) > 0 {
		return fmt.Errorf("official -> ours -> official changes declared values:\n  %s", strings.Join(d, "\n  "))
	}
	return nil
}

// OursToOfficial checks that ours -> JSON -> official -> JSON -> ours is
// lossless: ours (a pointer, e.g. from Fill) must set every path it
// declares; its JSON must decode strictly into the official type; and
// decoding the official object's JSON back must give the same JSON (the
// wire is the contract: raw JSON members may come back re-ordered).
func OursToOfficial(ours any, newOurs, newOfficial func() any) error {
	paths, err := Paths(reflect.TypeOf(ours))
	if err != nil {
		return err
	}
	oursJSON, err := json.Marshal(ours)
	if err != nil {
		return fmt.Errorf("marshal ours: %w", err)
	}
	oursDoc, err := Generic(oursJSON)
	if err != nil {
		return err
	}
	if m := Missing(oursDoc, paths); len(m) > 0 {
		return fmt.Errorf("our fixture does not set %d path(s):\n  %s", len(m), strings.Join(m, "\n  "))
	}
	official := newOfficial()
	if err := DecodeStrict(oursJSON, official); err != nil {
		return fmt.Errorf("ours JSON -> official (strict): %w", err)
	}
	officialJSON, err := json.Marshal(official)
	if err != nil {
		return fmt.Errorf("marshal official: %w", err)
	}
	again := newOurs()
	if err := Decode(officialJSON, again); err != nil {
		return fmt.Errorf("official JSON -> ours: %w", err)
	}
	againJSON, err := json.Marshal(again)
	if err != nil {
		return err
	}
	againDoc, err := Generic(againJSON)
	if err != nil {
		return err
	}
	if d := Diff(oursDoc, againDoc); len(d) > 0 {
		return fmt.Errorf("ours -> official -> ours is lossy:\n  %s", strings.Join(d, "\n  "))
	}
	return nil
}
