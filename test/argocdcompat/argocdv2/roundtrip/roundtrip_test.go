// Package roundtrip proves that gitover's Argo CD types
// (api/argocd/v1alpha1) are wire-compatible with Argo CD v2's official types:
// every JSON path gitover declares must be set by the official fixtures and
// survive official -> ours -> official, and ours -> official -> ours must be
// lossless. A field added to gitover's types without a value in the fixtures
// fails TestOfficialToOurs.
package roundtrip

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	argo "github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ours "github.com/gitover/gitover/api/argocd/v1alpha1"
	"github.com/gitover/gitover/test/argocdcompat/wirecheck"
)

func newOf[T any]() func() any { return func() any { return new(T) } }

func applicationList() *argo.ApplicationList {
	second := fixtureApplication()
	second.Name = "west-storefront"
	second.Spec.Source = nil
	return &argo.ApplicationList{
		TypeMeta: metav1.TypeMeta{APIVersion: "argoproj.io/v1alpha1", Kind: "ApplicationList"},
		ListMeta: metav1.ListMeta{ResourceVersion: "991", Continue: "next-page"},
		Items:    []argo.Application{*fixtureApplication(), *second},
	}
}

func applicationSetList() *argo.ApplicationSetList {
	return &argo.ApplicationSetList{
		TypeMeta: metav1.TypeMeta{APIVersion: "argoproj.io/v1alpha1", Kind: "ApplicationSetList"},
		ListMeta: metav1.ListMeta{ResourceVersion: "992"},
		Items:    []argo.ApplicationSet{*fixtureApplicationSet()},
	}
}

func TestOfficialToOurs(t *testing.T) {
	tests := []struct {
		name     string
		fixture  any
		ours     func() any
		official func() any
	}{
		{"Application", fixtureApplication(), newOf[ours.Application](), newOf[argo.Application]()},
		{"ApplicationList", applicationList(), newOf[ours.ApplicationList](), newOf[argo.ApplicationList]()},
		{"ApplicationSet", fixtureApplicationSet(), newOf[ours.ApplicationSet](), newOf[argo.ApplicationSet]()},
		{"ApplicationSetList", applicationSetList(), newOf[ours.ApplicationSetList](), newOf[argo.ApplicationSetList]()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, wirecheck.OfficialToOurs(tt.fixture, tt.ours, tt.official))
		})
	}
}

// leavesFrom supplies the opaque members of gitover's types (the
// ApplicationSet generators gitover carries as raw JSON) from an official
// fixture, in the official types' canonical JSON: a value the official
// types would rewrite could not round-trip losslessly.
func leavesFrom(t *testing.T, official any) wirecheck.LeafFunc {
	t.Helper()
	b, err := json.Marshal(official)
	require.NoError(t, err)
	doc, err := wirecheck.Generic(b)
	require.NoError(t, err)
	jsonType := reflect.TypeFor[apiextensionsv1.JSON]()
	return func(path string, typ reflect.Type) (json.RawMessage, bool) {
		if typ != jsonType {
			return nil, false
		}
		v, ok := wirecheck.First(doc, strings.TrimPrefix(path, "items[]."))
		if !ok {
			t.Errorf("the official fixture has no value at %s", path)
			return nil, false
		}
		raw, err := json.Marshal(v)
		require.NoError(t, err)
		return raw, true
	}
}

func TestOursToOfficial(t *testing.T) {
	leaf := leavesFrom(t, fixtureApplicationSet())
	fill := func(f func() (any, error)) any {
		v, err := f()
		require.NoError(t, err)
		return v
	}
	tests := []struct {
		name     string
		ours     any
		newOurs  func() any
		official func() any
	}{
		{"Application", fill(func() (any, error) { return wirecheck.Fill[ours.Application](leaf) }),
			newOf[ours.Application](), newOf[argo.Application]()},
		{"ApplicationList", fill(func() (any, error) { return wirecheck.Fill[ours.ApplicationList](leaf) }),
			newOf[ours.ApplicationList](), newOf[argo.ApplicationList]()},
		{"ApplicationSet", fill(func() (any, error) { return wirecheck.Fill[ours.ApplicationSet](leaf) }),
			newOf[ours.ApplicationSet](), newOf[argo.ApplicationSet]()},
		{"ApplicationSetList", fill(func() (any, error) { return wirecheck.Fill[ours.ApplicationSetList](leaf) }),
			newOf[ours.ApplicationSetList](), newOf[argo.ApplicationSetList]()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, wirecheck.OursToOfficial(tt.ours, tt.newOurs, tt.official))
		})
	}
}

// decodeBoth decodes an official Application JSON document into both types.
func decodeBoth(t *testing.T, doc string) (*ours.Application, *argo.Application) {
	t.Helper()
	var o ours.Application
	require.NoError(t, wirecheck.Decode([]byte(doc), &o))
	var a argo.Application
	require.NoError(t, wirecheck.DecodeStrict([]byte(doc), &a))
	return &o, &a
}

// backToOfficial re-encodes ours and decodes it as the official type.
func backToOfficial(t *testing.T, o *ours.Application) *argo.Application {
	t.Helper()
	b, err := json.Marshal(o)
	require.NoError(t, err)
	var a argo.Application
	require.NoError(t, wirecheck.DecodeStrict(b, &a))
	return &a
}

// TestSemantics covers documents the fixtures cannot: values whose absence
// or zero value means something, and gitover's helpers reading them.
func TestSemantics(t *testing.T) {
	const meta = `"apiVersion":"argoproj.io/v1alpha1","kind":"Application","metadata":{"name":"a","namespace":"argocd"}`
	tests := []struct {
		name  string
		doc   string
		check func(t *testing.T, o *ours.Application, official, back *argo.Application)
	}{
		{
			name: "empty automated block still enables automated sync",
			doc:  `{` + meta + `,"spec":{"project":"p","destination":{},"syncPolicy":{"automated":{}}}}`,
			check: func(t *testing.T, o *ours.Application, official, back *argo.Application) {
				require.NotNil(t, o.Spec.SyncPolicy)
				assert.NotNil(t, o.Spec.SyncPolicy.Automated)
				assert.NotNil(t, official.Spec.SyncPolicy.Automated)
				assert.NotNil(t, back.Spec.SyncPolicy.Automated)
			},
		},
		{
			name: "explicit prune=false reads as false and stays false",
			doc:  `{` + meta + `,"spec":{"project":"p","destination":{},"syncPolicy":{"automated":{"prune":false,"selfHeal":true}}}}`,
			check: func(t *testing.T, o *ours.Application, _, back *argo.Application) {
				assert.False(t, o.Spec.SyncPolicy.Automated.Prune)
				assert.True(t, o.Spec.SyncPolicy.Automated.SelfHeal)
				assert.False(t, back.Spec.SyncPolicy.Automated.Prune)
			},
		},
		{
			name: "multi-source Application is Synced at any of its revisions",
			doc: `{` + meta + `,"spec":{"project":"p","destination":{},"sources":[{"repoURL":"r1"},{"repoURL":"r2"}]},` +
				`"status":{"sync":{"status":"Synced","revisions":["aaa","bbb"]},"health":{"status":"Healthy"}}}`,
			check: func(t *testing.T, o *ours.Application, official, _ *argo.Application) {
				assert.Nil(t, o.Spec.Source)
				assert.Len(t, o.Spec.Sources, 2)
				assert.True(t, official.Spec.HasMultipleSources())
				assert.True(t, o.SyncedAt("bbb"))
				assert.False(t, o.SyncedAt("ccc"))
				assert.True(t, o.Healthy())
			},
		},
		{
			name: "OutOfSync at the right revision is not Synced",
			doc: `{` + meta + `,"spec":{"project":"p","destination":{}},` +
				`"status":{"sync":{"status":"OutOfSync","revision":"aaa"},"health":{"status":"Progressing"}}}`,
			check: func(t *testing.T, o *ours.Application, _, _ *argo.Application) {
				assert.False(t, o.SyncedAt("aaa"))
				assert.False(t, o.Healthy())
			},
		},
		{
			name: "an Application Argo CD has not reconciled yet",
			doc:  `{` + meta + `,"spec":{"project":"p","destination":{"name":"in-cluster"}}}`,
			check: func(t *testing.T, o *ours.Application, _, back *argo.Application) {
				assert.Empty(t, o.Status.Sync.Status)
				assert.False(t, o.SyncedAt(""))
				assert.Nil(t, back.Status.OperationState)
				assert.Equal(t, "in-cluster", back.Spec.Destination.Name)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, official := decodeBoth(t, tt.doc)
			tt.check(t, o, official, backToOfficial(t, o))
		})
	}
}

// TestSemanticNeighbours lists official fields gitover does not declare
// although they change the meaning of fields it does. The list is checked
// both ways: each field must still exist in Argo CD's types, and must still
// be undeclared by gitover (once gitover declares one, remove it here).
func TestSemanticNeighbours(t *testing.T) {
	tests := []struct {
		typ    reflect.Type
		oursT  reflect.Type
		path   string
		reason string
	}{
		{reflect.TypeFor[argo.Application](), reflect.TypeFor[ours.Application](), "spec.sourceHydrator.drySource.repoURL",
			"a hydrated Application has neither source nor sources; gitover sees no source"},
		{reflect.TypeFor[argo.Application](), reflect.TypeFor[ours.Application](), "status.resourceHealthSource",
			"\"appTree\" means status.resources[].health is not stored; read status.health instead"},
		{reflect.TypeFor[argo.ApplicationSet](), reflect.TypeFor[ours.ApplicationSet](), "spec.generators[].selector",
			"a generator's selector filters the clusters a clusterDecisionResource generator returns"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			official, err := wirecheck.Paths(tt.typ)
			require.NoError(t, err)
			declared, err := wirecheck.Paths(tt.oursT)
			require.NoError(t, err)
			assert.True(t, hasPathUnder(official, tt.path), "Argo CD no longer has %s; drop it from this list", tt.path)
			assert.False(t, hasPathUnder(declared, tt.path), "gitover now declares %s; drop it from this list", tt.path)
			t.Logf("not declared by gitover: %s (%s)", tt.path, tt.reason)
		})
	}
}

// hasPathUnder reports whether paths holds p or a path below it.
func hasPathUnder(paths []string, p string) bool {
	for _, q := range paths {
		if q == p || strings.HasPrefix(q, p+".") || strings.HasPrefix(q, p+"[]") {
			return true
		}
	}
	return false
}
