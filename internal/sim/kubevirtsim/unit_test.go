package kubevirtsim

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestRecordRoundTrip(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	tests := []struct {
		name    string
		line    string
		want    Record
		wantErr string
	}{
		{name: "as written", line: "seq=42 time=2026-01-02T03:04:05.123456789Z writer=dr1", want: Record{Seq: 42, Time: at, Writer: "dr1"}},
		{name: "fields in any order", line: "writer=dr2 time=2026-01-02T03:04:05.123456789Z seq=7", want: Record{Seq: 7, Time: at, Writer: "dr2"}},
		{name: "no writer", line: "seq=1 time=2026-01-02T03:04:05.123456789Z", want: Record{Seq: 1, Time: at}},
		{name: "no time", line: "seq=1 writer=x", wantErr: "want seq= and time="},
		{name: "bad seq", line: "seq=x time=2026-01-02T03:04:05Z", wantErr: "seq"},
		{name: "bad time", line: "seq=1 time=yesterday", wantErr: "time"},
		{name: "not key=value", line: "seq=1 garbage", wantErr: "not key=value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRecord(tt.line)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			again, err := ParseRecord(got.String())
			require.NoError(t, err)
			assert.Equal(t, got, again, "String and ParseRecord round-trip")
		})
	}
}

func TestContentOf(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	recs := []Record{{Seq: 9, Time: at, Writer: "a"}, {Seq: 10, Time: at.Add(time.Second), Writer: "a"}}
	pvc := &unstructured.Unstructured{}
	pvc.SetNamespace("ns")
	pvc.SetName("data")
	cm := newContentObject(pvc)
	_ = unstructured.SetNestedMap(cm.Object, contentData(recs, 10), "data")

	c, err := contentOf(cm)
	require.NoError(t, err)
	assert.Equal(t, "data", c.PVC)
	assert.Equal(t, recs, c.Records)
	assert.Equal(t, int64(10), c.LastSeq)
	last, ok := c.Last()
	assert.True(t, ok)
	assert.Equal(t, recs[1], last)
	assert.True(t, c.Has(recs[0]))
	assert.False(t, c.Has(Record{Seq: 9, Time: at.Add(time.Hour)}), "same number, other time: another record")

	empty, err := contentOf(newContentObject(pvc))
	require.NoError(t, err)
	_, ok = empty.Last()
	assert.False(t, ok)
	assert.Zero(t, empty.LastSeq)
}

// TestCRDsAreMarkedSimulated checks that every served CRD says it is a
// simulation and has the status subresource the simulator writes through.
func TestCRDsAreMarkedSimulated(t *testing.T) {
	crds, err := CRDs()
	require.NoError(t, err)
	var names []string
	for _, crd := range crds {
		names = append(names, crd.Name)
		assert.Equal(t, SimulationNote, crd.Annotations[AnnSimulation], crd.Name)
		require.Len(t, crd.Spec.Versions, 1, crd.Name)
		v := crd.Spec.Versions[0]
		assert.NotNil(t, v.Subresources.Status, "%s has a status subresource", crd.Name)
		assert.True(t, strings.HasPrefix(v.Schema.OpenAPIV3Schema.Description, "SIMULATED "), crd.Name)
	}
	assert.Equal(t, []string{
		"datavolumes.cdi.kubevirt.io",
		"replicationdestinations.volsync.backube",
		"replicationsources.volsync.backube",
		"virtualmachineinstances.kubevirt.io",
		"virtualmachines.kubevirt.io",
	}, names)
}

// TestCommand checks the command tree the lab starts.
func TestCommand(t *testing.T) {
	cmd := NewCommand()
	assert.True(t, cmd.Hidden)
	tests := []struct {
		args  []string
		flags []string
	}{
		{[]string{"kubevirt"}, []string{"kubeconfig", "cluster-name", "readopt", "claim-adoption-feature-gate", "bind-pvcs", "step-delay", "write-interval", "install-crds"}},
		{[]string{"replicate"}, []string{"from-kubeconfig", "to-kubeconfig", "namespace", "interval", "from-name", "to-name"}},
		{[]string{"install-crds"}, []string{"kubeconfig"}},
		{[]string{"records"}, []string{"kubeconfig", "namespace", "last"}},
	}
	for _, tt := range tests {
		t.Run(tt.args[0], func(t *testing.T) {
			sub, _, err := cmd.Find(tt.args)
			require.NoError(t, err)
			require.Equal(t, tt.args[0], sub.Name())
			for _, f := range tt.flags {
				assert.NotNil(t, sub.Flags().Lookup(f), "--%s", f)
			}
		})
	}
	readopt := mustFind(t, cmd, "kubevirt").Flags().Lookup("readopt")
	assert.Equal(t, "true", readopt.DefValue, "re-adoption is on by default, as upstream")
}

func mustFind(t *testing.T, root *cobra.Command, name string) *cobra.Command {
	t.Helper()
	c, _, err := root.Find([]string{name})
	require.NoError(t, err)
	return c
}
