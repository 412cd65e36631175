package kubevirtsim

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
)

// volsyncObject builds a ReplicationSource or ReplicationDestination.
func volsyncObject(kind, ns, name string, spec map[string]any) *unstructured.Unstructured {
	gvk := ReplicationSourceGVK
	if kind == ReplicationDestinationGVK.Kind {
		gvk = ReplicationDestinationGVK
	}
	u := newU(gvk)
	u.SetNamespace(ns)
	u.SetName(name)
	u.Object["spec"] = spec
	return u
}

// sameNamespace creates a namespace of one name on both clusters.
func sameNamespace(t *testing.T, ctx context.Context, da, db dynamic.Interface, prefix string) string {
	t.Helper()
	ns := newNamespace(t, ctx, da, prefix)
	obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}}
	_, err := db.Resource(nsGVR).Create(ctx, obj, metav1.CreateOptions{})
	require.NoError(t, err)
	return ns
}

// content reads a PVC's content, nil when it does not exist.
func content(t *testing.T, ctx context.Context, d dynamic.Interface, ns, pvc string) *Content {
	t.Helper()
	if get(t, ctx, d, ConfigMapGVR, ns, ContentName(pvc)) == nil {
		return nil
	}
	c, err := ReadContent(ctx, d, ns, pvc)
	require.NoError(t, err)
	return c
}

// TestReplication is the data-continuity story on two real clusters: the
// writer appends records to a running VM's disk on A; the replicator copies
// them to B while a ReplicationDestination exists on B; the last record
// written on A before the "disaster" reaches B; once the
// ReplicationDestination is deleted nothing more is copied; and the VM
// started on B adopts the replicated volume and continues the sequence.
func TestReplication(t *testing.T) {
	a, b := cluster(t, "a"), cluster(t, "b")
	ctx := testContext(t)
	da, db := dyn(t, a), dyn(t, b)

	oa := testOptions("a")
	oa.WriteInterval = 100 * time.Millisecond
	stopA := startSim(t, a, oa)
	ob := testOptions("b")
	ob.WriteInterval = 100 * time.Millisecond
	startSim(t, b, ob)

	ns := sameNamespace(t, ctx, da, db, "repl")
	create(t, ctx, da, VirtualMachineGVR, vmObject(ns, vmSpec{name: "vm", runStrategy: RunStrategyAlways, disks: []string{"data"}}))
	create(t, ctx, da, ReplicationSourceGVR, volsyncObject("ReplicationSource", ns, "data", map[string]any{
		"sourcePVC": "data", "trigger": map[string]any{"schedule": "*/5 * * * *"},
		"rsyncTLS": map[string]any{"keySecret": "tls-key-secret", "copyMethod": "Snapshot"},
	}))
	create(t, ctx, db, ReplicationDestinationGVR, volsyncObject("ReplicationDestination", ns, "data", map[string]any{
		"rsyncTLS": map[string]any{"destinationPVC": "data", "keySecret": "tls-key-secret", "copyMethod": "Snapshot"},
	}))
	interval := 200 * time.Millisecond
	rep, err := NewReplicator(a.Config, b.Config, ReplicatorOptions{Namespace: ns, Interval: interval, SourceName: "a", DestinationName: "b"}, testr.New(t))
	require.NoError(t, err)
	repCtx, stopRep := context.WithCancel(ctx)
	repDone := make(chan struct{})
	go func() { defer close(repDone); _ = rep.Run(repCtx) }()
	t.Cleanup(func() { stopRep(); <-repDone })

	// 1. Records written on A appear on B.
	vmRunning(t, ctx, da, ns, "vm")
	waitFor(t, 20*time.Second, "at least 5 records replicated to B", func() bool {
		c := content(t, ctx, db, ns, "data")
		return c != nil && c.LastSeq >= 5
	})
	onA, onB := content(t, ctx, da, ns, "data"), content(t, ctx, db, ns, "data")
	for _, r := range onB.Records {
		assert.True(t, onA.Has(r), "record %s on B was written on A", r)
		assert.Equal(t, "a", r.Writer)
	}
	dstPVC := get(t, ctx, db, PersistentVolumeClaimGVR, ns, "data")
	require.NotNil(t, dstPVC, "the replicator created the destination PVC")
	assert.Equal(t, "a/"+ns+"/data", dstPVC.GetAnnotations()[AnnReplicatedFrom])
	assert.True(t, ownedBy(get(t, ctx, db, ConfigMapGVR, ns, ContentName("data")), dstPVC), "the content on B belongs to B's PVC")
	rd := get(t, ctx, db, ReplicationDestinationGVR, ns, "data")
	rs := get(t, ctx, da, ReplicationSourceGVR, ns, "data")
	for _, obj := range []*unstructured.Unstructured{rd, rs} {
		last, err := time.Parse(time.RFC3339, str(obj, "status", "lastSyncTime"))
		require.NoError(t, err, "%s status.lastSyncTime", obj.GetKind())
		assert.WithinDuration(t, time.Now(), last, 10*time.Second)
		_, err = time.ParseDuration(str(obj, "status", "lastSyncDuration"))
		assert.NoError(t, err, "%s status.lastSyncDuration", obj.GetKind())
	}
	_, err = time.Parse(time.RFC3339, str(rs, "status", "nextSyncTime"))
	assert.NoError(t, err, "ReplicationSource status.nextSyncTime")

	// 2. Disaster on A: its writer stops. The last record written before it
	// reaches B with the next synchronization.
	stopA()
	lastA, ok := content(t, ctx, da, ns, "data").Last()
	require.True(t, ok)
	waitFor(t, 10*time.Second, "the last record written on A to reach B", func() bool {
		c := content(t, ctx, db, ns, "data")
		return c.Has(lastA) && c.LastSeq == lastA.Seq
	})

	// 3. Replication stopped: the ReplicationDestination is deleted. Records
	// A still gets are not copied.
	require.NoError(t, db.Resource(ReplicationDestinationGVR).Namespace(ns).Delete(ctx, "data", metav1.DeleteOptions{}))
	waitFor(t, 5*time.Second, "the ReplicationDestination to be gone", func() bool {
		return get(t, ctx, db, ReplicationDestinationGVR, ns, "data") == nil
	})
	time.Sleep(2 * interval) // let a synchronization in flight finish
	for i := 0; i < 3; i++ {
		_, err := AppendRecord(ctx, da, ns, "data", "a-after-stop", 0)
		require.NoError(t, err)
	}
	holds(t, 5*interval, "B to stay at the last record before replication stopped", func() bool {
		return content(t, ctx, db, ns, "data").LastSeq == lastA.Seq
	})

	// 4. Failover: the VM starts on B from the replicated volume and the
	// writer continues the sequence there.
	create(t, ctx, db, VirtualMachineGVR, vmObject(ns, vmSpec{name: "vm", runStrategy: RunStrategyAlways, disks: []string{"data"}}))
	vmB := vmRunning(t, ctx, db, ns, "vm")
	dv := get(t, ctx, db, DataVolumeGVR, ns, "data")
	assert.True(t, ownedBy(dv, vmB))
	assert.True(t, ownedBy(get(t, ctx, db, PersistentVolumeClaimGVR, ns, "data"), dv), "the DataVolume adopted the replicated PVC")
	assert.Equal(t, dstPVC.GetUID(), get(t, ctx, db, PersistentVolumeClaimGVR, ns, "data").GetUID())
	waitFor(t, 5*time.Second, "the writer on B to continue", func() bool {
		return content(t, ctx, db, ns, "data").LastSeq > lastA.Seq
	})
	onB = content(t, ctx, db, ns, "data")
	assert.True(t, onB.Has(lastA), "the last record before the disaster is still on B")
	for i := 1; i < len(onB.Records); i++ {
		assert.Equal(t, onB.Records[i-1].Seq+1, onB.Records[i].Seq, "no gap and no duplicate in the sequence")
	}
	next := onB.Records[len(onB.Records)-1]
	assert.Equal(t, "b", next.Writer)
}

// TestReplicatorSyncOnce checks which volumes one synchronization copies.
func TestReplicatorSyncOnce(t *testing.T) {
	a, b := cluster(t, "a"), cluster(t, "b")
	ctx := testContext(t)
	da, db := dyn(t, a), dyn(t, b)

	tests := []struct {
		name       string
		rdName     string
		rdSpec     map[string]any
		rsSpec     map[string]any // nil: no ReplicationSource
		sourcePVC  bool
		wantCopied bool
		wantReason string
	}{
		{name: "rsyncTLS destinationPVC", rdName: "rd", rdSpec: map[string]any{"rsyncTLS": map[string]any{"destinationPVC": "disk"}}, sourcePVC: true, wantCopied: true},
		{name: "rsync destinationPVC", rdName: "rd", rdSpec: map[string]any{"rsync": map[string]any{"destinationPVC": "disk"}}, sourcePVC: true, wantCopied: true},
		{name: "PVC named after the destination", rdName: "disk", rdSpec: map[string]any{}, sourcePVC: true, wantCopied: true},
		{name: "with a ReplicationSource", rdName: "disk", rdSpec: map[string]any{}, rsSpec: map[string]any{"sourcePVC": "disk"}, sourcePVC: true, wantCopied: true},
		{name: "destination paused", rdName: "disk", rdSpec: map[string]any{"paused": true}, sourcePVC: true, wantReason: "ReplicationDestination is paused"},
		{name: "source paused", rdName: "disk", rdSpec: map[string]any{}, rsSpec: map[string]any{"sourcePVC": "disk", "paused": true}, sourcePVC: true, wantReason: "ReplicationSource is paused"},
		{name: "no source PVC", rdName: "disk", rdSpec: map[string]any{}, wantReason: "reading source PVC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := sameNamespace(t, ctx, da, db, "sync")
			if tt.sourcePVC {
				create(t, ctx, da, PersistentVolumeClaimGVR, &unstructured.Unstructured{Object: map[string]any{
					"apiVersion": "v1", "kind": "PersistentVolumeClaim",
					"metadata": map[string]any{"name": "disk", "namespace": ns},
					"spec":     map[string]any{"accessModes": []any{"ReadWriteOnce"}, "resources": map[string]any{"requests": map[string]any{"storage": "2Gi"}}},
				}})
				_, err := AppendRecord(ctx, da, ns, "disk", "a", 0)
				require.NoError(t, err)
			}
			if tt.rsSpec != nil {
				create(t, ctx, da, ReplicationSourceGVR, volsyncObject("ReplicationSource", ns, "rs", tt.rsSpec))
			}
			create(t, ctx, db, ReplicationDestinationGVR, volsyncObject("ReplicationDestination", ns, tt.rdName, tt.rdSpec))
			rep, err := NewReplicator(a.Config, b.Config, ReplicatorOptions{Namespace: ns, SourceName: "a", DestinationName: "b"}, testr.New(t))
			require.NoError(t, err)

			res, err := rep.SyncOnce(ctx)
			key := ns + "/disk"
			if tt.wantCopied {
				require.NoError(t, err)
				assert.Equal(t, []string{key}, res.Copied)
				c := content(t, ctx, db, ns, "disk")
				require.NotNil(t, c)
				assert.Equal(t, int64(1), c.LastSeq)
				pvc := get(t, ctx, db, PersistentVolumeClaimGVR, ns, "disk")
				assert.Equal(t, "2Gi", str(pvc, "spec", "resources", "requests", "storage"), "the destination PVC is sized like the source")
				assert.Equal(t, "Bound", str(pvc, "status", "phase"))
				return
			}
			assert.Empty(t, res.Copied)
			assert.Contains(t, res.Skipped[key], tt.wantReason)
			assert.Nil(t, get(t, ctx, db, ConfigMapGVR, ns, ContentName("disk")), "nothing copied")
		})
	}
}
