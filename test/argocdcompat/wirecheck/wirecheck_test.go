package wirecheck

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stamp has its own JSON form, so it is a leaf like metav1.Time.
type stamp struct{ sec int }

func (s stamp) MarshalJSON() ([]byte, error) { return json.Marshal(s.sec) }
func (s *stamp) UnmarshalJSON(b []byte) error {
	return json.Unmarshal(b, &s.sec)
}

type typeMeta struct {
	Kind string `json:"kind,omitempty"`
}

type item struct {
	Name  string `json:"name"`
	Ready *bool  `json:"ready,omitempty"`
}

type sample struct {
	typeMeta `json:",inline"`
	Skipped  string            `json:"-"`
	hidden   string            //nolint:unused // unexported fields are not on the wire
	NoTag    string            //nolint:revive // a field without a tag uses its Go name
	Items    []item            `json:"items,omitempty"`
	Grid     [][]*item         `json:"grid,omitempty"`
	Tags     []string          `json:"tags,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	At       *stamp            `json:"at,omitempty"`
	Empty    struct{}          `json:"empty"`
	Count    int64             `json:"count,omitempty"`
}

type recursive struct {
	Children []recursive `json:"children"`
}

type withInterface struct {
	Any any `json:"any"`
}

type duplicate struct {
	typeMeta `json:",inline"`
	Kind     string `json:"kind"`
}

func TestPaths(t *testing.T) {
	tests := []struct {
		name    string
		typ     reflect.Type
		want    []string
		wantErr string
	}{
		{
			name: "flattening, skipping, nesting and leaves",
			typ:  reflect.TypeFor[*sample](),
			want: []string{"NoTag", "at", "count", "empty", "grid[][].name", "grid[][].ready",
				"items[].name", "items[].ready", "kind", "labels", "tags"},
		},
		{name: "marshaler is a leaf", typ: reflect.TypeFor[struct {
			S stamp `json:"s"`
		}](), want: []string{"s"}},
		{name: "recursive type", typ: reflect.TypeFor[recursive](), wantErr: "recursive type"},
		{name: "interface", typ: reflect.TypeFor[withInterface](), wantErr: "cannot be checked"},
		{name: "duplicate member", typ: reflect.TypeFor[duplicate](), wantErr: `two fields are named "kind"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Paths(tt.typ)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestSteps(t *testing.T) {
	tests := []struct {
		path string
		want []string
	}{
		{"a", []string{"a"}},
		{"a.b", []string{"a", "b"}},
		{"a[].b", []string{"a", "[]", "b"}},
		{"grid[][].name", []string{"grid", "[]", "[]", "name"}},
		{"list[]", []string{"list", "[]"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			assert.Equal(t, tt.want, steps(tt.path))
		})
	}
}

func mustGeneric(t *testing.T, s string) any {
	t.Helper()
	v, err := Generic([]byte(s))
	require.NoError(t, err)
	return v
}

func TestMissing(t *testing.T) {
	paths := []string{"a", "b.c", "items[].name", "n", "flag", "m", "l"}
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"all set", `{"a":"x","b":{"c":"y"},"items":[{},{"name":"z"}],"n":2,"flag":true,"m":{"k":"v"},"l":[1]}`, nil},
		{"zero values count as missing", `{"a":"","b":{"c":null},"items":[{"name":""}],"n":0,"flag":false,"m":{},"l":[]}`,
			[]string{"a", "b.c", "items[].name", "n", "flag", "m", "l"}},
		{"absent", `{}`, []string{"a", "b.c", "items[].name", "n", "flag", "m", "l"}},
		{"wrong shapes", `{"a":"x","b":"c","items":{"name":"z"},"n":1,"flag":true,"m":{"k":1},"l":[0]}`,
			[]string{"b.c", "items[].name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Missing(mustGeneric(t, tt.doc), paths))
		})
	}
}

func TestFirst(t *testing.T) {
	doc := `{"a":{"b":"x"},"items":[{"name":""},{"name":"second"},{"name":"third"}],"z":0}`
	tests := []struct {
		path   string
		want   any
		wantOK bool
	}{
		{"a.b", "x", true},
		{"a", map[string]any{"b": "x"}, true},
		{"items[].name", "second", true},
		{"z", nil, false},
		{"a.c", nil, false},
		{"a.b.c", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, ok := First(mustGeneric(t, doc), tt.path)
			assert.Equal(t, tt.wantOK, ok)
			if tt.wantOK {
				assert.Equal(t, tt.want, got)
			}
		})
	}
}

func TestProject(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		paths []string
		want  string
	}{
		{"keeps declared members only", `{"a":1,"x":2,"b":{"c":3,"d":4}}`, []string{"a", "b.c"}, `{"a":1,"b":{"c":3}}`},
		{"arrays keep their length", `{"items":[{"name":"a","x":1},{"x":2}]}`, []string{"items[].name"}, `{"items":[{"name":"a"},{}]}`},
		{"a leaf keeps its whole value", `{"meta":{"name":"a","uid":"u"}}`, []string{"meta"}, `{"meta":{"name":"a","uid":"u"}}`},
		{"a scalar where an object is expected stays visible", `{"b":"oops"}`, []string{"b.c"}, `{"b":"oops"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, mustGeneric(t, tt.want), Project(mustGeneric(t, tt.doc), tt.paths))
		})
	}
}

func TestDiff(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want []string
	}{
		{"equal", `{"a":[1,{"b":"c"}]}`, `{"a":[1,{"b":"c"}]}`, nil},
		{"changed leaf", `{"a":{"b":"x"}}`, `{"a":{"b":"y"}}`, []string{`a.b: "x" != "y"`}},
		{"absent on one side", `{"a":1}`, `{"b":2}`, []string{"a: 1 != absent", "b: absent != 2"}},
		{"array element", `{"a":[1,2]}`, `{"a":[1,3]}`, []string{"a[1]: 2 != 3"}},
		{"array length", `{"a":[1]}`, `{"a":[1,2]}`, []string{"a: [1] != [1,2]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Diff(mustGeneric(t, tt.a), mustGeneric(t, tt.b)))
		})
	}
}

func TestFill(t *testing.T) {
	v, err := Fill[sample](func(path string, _ reflect.Type) (json.RawMessage, bool) {
		if path == "at" {
			return json.RawMessage(`42`), true
		}
		return nil, false
	})
	require.NoError(t, err)
	b, err := json.Marshal(v)
	require.NoError(t, err)
	paths, err := Paths(reflect.TypeFor[sample]())
	require.NoError(t, err)
	// "empty" is a struct without members: Fill cannot make it non-zero.
	assert.Equal(t, []string{"empty"}, Missing(mustGeneric(t, string(b)), paths))
	assert.Equal(t, 42, v.At.sec)
	assert.Len(t, v.Items, 2)
	assert.Len(t, v.Grid, 2)
	assert.Len(t, v.Grid[1], 2)
	assert.Len(t, v.Labels, 2)
	assert.NotEqual(t, v.Items[0].Name, v.Items[1].Name, "values are distinctive")
	assert.True(t, strings.HasPrefix(v.Items[0].Name, "name-"), v.Items[0].Name)

	_, err = Fill[struct {
		S stamp `json:"s"`
	}](nil)
	assert.ErrorContains(t, err, "no value for", "an opaque type without a default needs a LeafFunc")
}

// official and the "ours" variants below stand in for Argo CD's type and
// gitover's partial copies.
type official struct {
	RepoURL string   `json:"repoURL"`
	Path    string   `json:"path,omitempty"`
	Extra   string   `json:"extra,omitempty"`
	Ratio   float32  `json:"ratio,omitempty"`
	Tags    []string `json:"tags,omitempty"`
}

type oursGood struct {
	RepoURL string   `json:"repoURL"`
	Path    string   `json:"path,omitempty"`
	Tags    []string `json:"tags,omitempty"`
}

type oursTypo struct {
	RepoURL string `json:"repoUrl"`
}

type oursUnknown struct {
	RepoURL string `json:"repoURL"`
	Novel   string `json:"novel,omitempty"`
}

type oursWrongType struct {
	Path int `json:"path,omitempty"`
}

type oursPrecise struct {
	Ratio float64 `json:"ratio,omitempty"`
}

func newOf[T any]() func() any { return func() any { return new(T) } }

func TestOfficialToOurs(t *testing.T) {
	fixture := &official{RepoURL: "https://git.example/repo", Path: "apps/x", Extra: "not ours", Ratio: 0.5, Tags: []string{"a", "b"}}
	tests := []struct {
		name    string
		fixture any
		ours    func() any
		wantErr string
	}{
		{name: "declared subset round-trips", fixture: fixture, ours: newOf[oursGood]()},
		{name: "fixture misses a declared path", fixture: &official{RepoURL: "r"}, ours: newOf[oursGood](),
			wantErr: "does not set 2 path(s)"},
		{name: "case mismatch is not a match", fixture: fixture, ours: newOf[oursTypo](), wantErr: "repoUrl"},
		{name: "member unknown to the official type", fixture: fixture, ours: newOf[oursUnknown](), wantErr: "novel"},
		{name: "incompatible type", fixture: fixture, ours: newOf[oursWrongType](), wantErr: "official JSON -> ours"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := OfficialToOurs(tt.fixture, tt.ours, newOf[official]())
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestOursToOfficial(t *testing.T) {
	tests := []struct {
		name    string
		ours    any
		newOurs func() any
		wantErr string
	}{
		{name: "lossless", ours: &oursGood{RepoURL: "r", Path: "p", Tags: []string{"t"}}, newOurs: newOf[oursGood]()},
		{name: "unset path", ours: &oursGood{RepoURL: "r"}, newOurs: newOf[oursGood](), wantErr: "does not set 2 path(s)"},
		{name: "member unknown to the official type", ours: &oursUnknown{RepoURL: "r", Novel: "n"}, newOurs: newOf[oursUnknown](),
			wantErr: `unknown field "novel"`},
		{name: "precision lost in the official type", ours: &oursPrecise{Ratio: 0.123456789}, newOurs: newOf[oursPrecise](),
			wantErr: "lossy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := OursToOfficial(tt.ours, tt.newOurs, newOf[official]())
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}
