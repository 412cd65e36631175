package kubevirtsim

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
)

// TestDataVolumeTemplates checks the ownership chain the simulator builds
// (VM -> DataVolume -> PVC -> content, each a blocking controller
// reference), the import phases, and that the REAL garbage collector
// deletes the chain with the VM — or keeps it when the VM is deleted with
// orphan propagation.
func TestDataVolumeTemplates(t *testing.T) {
	c := cluster(t, "a")
	ctx := testContext(t)
	d := dyn(t, c)
	startSim(t, c, testOptions("a"))

	tests := []struct {
		policy    metav1.DeletionPropagation
		wantDisks bool // DataVolume, PVC and content survive the VM
	}{
		{metav1.DeletePropagationBackground, false},
		{metav1.DeletePropagationForeground, false},
		{metav1.DeletePropagationOrphan, true},
	}
	for _, tt := range tests {
		t.Run(string(tt.policy), func(t *testing.T) {
			ns := newNamespace(t, ctx, d, "dvt-"+string(tt.policy))
			w, err := d.Resource(DataVolumeGVR).Namespace(ns).Watch(ctx, metav1.ListOptions{})
			require.NoError(t, err)
			defer w.Stop()

			create(t, ctx, d, VirtualMachineGVR, vmObject(ns, vmSpec{name: "vm", runStrategy: RunStrategyAlways, disks: []string{"root", "data"}}))
			vm := vmRunning(t, ctx, d, ns, "vm")
			assert.Contains(t, vm.GetFinalizers(), VMControllerFinalizer)
			assert.Equal(t, true, vm.Object["status"].(map[string]any)["ready"])

			vmi := get(t, ctx, d, VirtualMachineInstanceGVR, ns, "vm")
			require.NotNil(t, vmi)
			assert.True(t, ownedBy(vmi, vm), "the VMI is controlled by the VM")
			assert.Equal(t, "Running", vmiPhase(vmi))
			for _, disk := range []string{"root", "data"} {
				dv := get(t, ctx, d, DataVolumeGVR, ns, disk)
				require.NotNil(t, dv, "DataVolume %s", disk)
				assert.True(t, ownedBy(dv, vm), "DataVolume %s is controlled by the VM", disk)
				assert.Equal(t, "true", dv.GetAnnotations()[AnnAllowClaimAdoption])
				assert.Equal(t, DVSucceeded, str(dv, "status", "phase"))
				pvc := get(t, ctx, d, PersistentVolumeClaimGVR, ns, disk)
				require.NotNil(t, pvc, "PVC %s", disk)
				assert.True(t, ownedBy(pvc, dv), "PVC %s is controlled by its DataVolume", disk)
				assert.Equal(t, "Bound", str(pvc, "status", "phase"))
				cm := get(t, ctx, d, ConfigMapGVR, ns, ContentName(disk))
				require.NotNil(t, cm, "content of %s", disk)
				assert.True(t, ownedBy(cm, pvc), "the content of %s is controlled by its PVC", disk)
			}
			assert.Equal(t, []string{DVPending, DVImportScheduled, DVSucceeded}, phasesSeen(w, "data"))

			deleteWith(t, ctx, d, VirtualMachineGVR, ns, "vm", tt.policy)
			waitFor(t, 30*time.Second, "the VM to be deleted", func() bool { return get(t, ctx, d, VirtualMachineGVR, ns, "vm") == nil })
			for _, disk := range []string{"root", "data"} {
				chain := []struct {
					what string
					get  func() *unstructured.Unstructured
				}{
					{"DataVolume " + disk, func() *unstructured.Unstructured { return get(t, ctx, d, DataVolumeGVR, ns, disk) }},
					{"PVC " + disk, func() *unstructured.Unstructured { return get(t, ctx, d, PersistentVolumeClaimGVR, ns, disk) }},
					{"content of " + disk, func() *unstructured.Unstructured { return get(t, ctx, d, ConfigMapGVR, ns, ContentName(disk)) }},
				}
				for _, l := range chain {
					if tt.wantDisks {
						holds(t, 500*time.Millisecond, l.what+" to survive", func() bool { o := l.get(); return o != nil && o.GetDeletionTimestamp() == nil })
					} else {
						waitFor(t, 30*time.Second, l.what+" to be garbage-collected", func() bool { return l.get() == nil })
					}
				}
			}
			if tt.wantDisks {
				dv := get(t, ctx, d, DataVolumeGVR, ns, "data")
				assert.Empty(t, dv.GetOwnerReferences(), "orphan propagation removed the VM owner reference")
			}
		})
	}
}

// phasesSeen collects the distinct phases a DataVolume went through, from
// a watch opened before it was created.
func phasesSeen(w watch.Interface, name string) []string {
	var phases []string
	timeout := time.After(2 * time.Second)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return phases
			}
			u, isU := ev.Object.(*unstructured.Unstructured)
			if !isU || u.GetName() != name {
				continue
			}
			if p := str(u, "status", "phase"); p != "" && (len(phases) == 0 || phases[len(phases)-1] != p) {
				phases = append(phases, p)
			}
			if str(u, "status", "phase") == DVSucceeded {
				return phases
			}
		case <-timeout:
			return phases
		}
	}
}

// TestVMStatus checks run strategies, the VMI and the status fields Argo
// CD's VirtualMachine health check reads.
func TestVMStatus(t *testing.T) {
	c := cluster(t, "a")
	ctx := testContext(t)
	d := dyn(t, c)
	startSim(t, c, testOptions("a"))
	yes, no := true, false

	tests := []struct {
		name        string
		runStrategy string
		running     *bool
		wantVMI     bool
		wantStatus  string
		wantReady   string
		wantReason  string
	}{
		{name: "runStrategy Always", runStrategy: RunStrategyAlways, wantVMI: true, wantStatus: "Running", wantReady: "True"},
		{name: "runStrategy RerunOnFailure", runStrategy: RunStrategyRerunOnFailure, wantVMI: true, wantStatus: "Running", wantReady: "True"},
		{name: "running true", running: &yes, wantVMI: true, wantStatus: "Running", wantReady: "True"},
		{name: "runStrategy Halted", runStrategy: RunStrategyHalted, wantStatus: "Stopped", wantReady: "False", wantReason: "VMINotExists"},
		{name: "running false", running: &no, wantStatus: "Stopped", wantReady: "False", wantReason: "VMINotExists"},
	}
	ns := newNamespace(t, ctx, d, "status")
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("vm-%d", i)
			create(t, ctx, d, VirtualMachineGVR, vmObject(ns, vmSpec{name: name, runStrategy: tt.runStrategy, running: tt.running, disks: []string{name + "-disk"}}))
			waitFor(t, 20*time.Second, "status "+tt.wantStatus, func() bool {
				vm := get(t, ctx, d, VirtualMachineGVR, ns, name)
				dv := get(t, ctx, d, DataVolumeGVR, ns, name+"-disk")
				return str(vm, "status", "printableStatus") == tt.wantStatus && conditionStatus(vm, "Ready") == tt.wantReady &&
					dv != nil && str(dv, "status", "phase") == DVSucceeded
			})
			holds(t, 300*time.Millisecond, "the status to stay "+tt.wantStatus, func() bool {
				vm := get(t, ctx, d, VirtualMachineGVR, ns, name)
				return str(vm, "status", "printableStatus") == tt.wantStatus
			})
			vm := get(t, ctx, d, VirtualMachineGVR, ns, name)
			assert.Equal(t, tt.wantVMI, vm.Object["status"].(map[string]any)["created"])
			assert.Equal(t, tt.wantVMI, get(t, ctx, d, VirtualMachineInstanceGVR, ns, name) != nil)
			if tt.wantReason != "" {
				assert.Equal(t, tt.wantReason, readyReason(vm))
			}
		})
	}

	t.Run("stop and start", func(t *testing.T) {
		create(t, ctx, d, VirtualMachineGVR, vmObject(ns, vmSpec{name: "toggle", runStrategy: RunStrategyAlways, disks: []string{"toggle-disk"}}))
		vmRunning(t, ctx, d, ns, "toggle")
		patchRunStrategy(t, ctx, d, ns, "toggle", RunStrategyHalted)
		waitFor(t, 20*time.Second, "the VM to stop", func() bool {
			vm := get(t, ctx, d, VirtualMachineGVR, ns, "toggle")
			return str(vm, "status", "printableStatus") == "Stopped" && get(t, ctx, d, VirtualMachineInstanceGVR, ns, "toggle") == nil
		})
		patchRunStrategy(t, ctx, d, ns, "toggle", RunStrategyAlways)
		vmRunning(t, ctx, d, ns, "toggle")
	})
}

func readyReason(vm *unstructured.Unstructured) string {
	conds, _, _ := unstructured.NestedSlice(vm.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == "Ready" {
			r, _ := m["reason"].(string)
			return r
		}
	}
	return ""
}

func patchRunStrategy(t *testing.T, ctx context.Context, d dynamic.Interface, ns, name, rs string) {
	t.Helper()
	_, err := d.Resource(VirtualMachineGVR).Namespace(ns).Patch(ctx, name, types.MergePatchType,
		[]byte(fmt.Sprintf(`{"spec":{"runStrategy":%q}}`, rs)), metav1.PatchOptions{})
	require.NoError(t, err)
}

// TestReAdoption strips the VM owner reference from a template DataVolume
// and checks that the simulated virt-controller puts it back while the VM
// exists — and that it does not when re-adoption is off.
func TestReAdoption(t *testing.T) {
	c := cluster(t, "a")
	ctx := testContext(t)
	d := dyn(t, c)

	tests := []struct {
		readopt bool
	}{{readopt: true}, {readopt: false}}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("readopt=%t", tt.readopt), func(t *testing.T) {
			o := testOptions("a")
			o.ReAdopt = tt.readopt
			startSim(t, c, o)
			ns := newNamespace(t, ctx, d, "readopt")
			create(t, ctx, d, VirtualMachineGVR, vmObject(ns, vmSpec{name: "vm", runStrategy: RunStrategyAlways, disks: []string{"data"}}))
			vm := vmRunning(t, ctx, d, ns, "vm")
			require.True(t, ownedBy(get(t, ctx, d, DataVolumeGVR, ns, "data"), vm))

			stripOwners(t, ctx, d, DataVolumeGVR, ns, "data")
			stripped := time.Now()
			if tt.readopt {
				waitFor(t, 2*time.Second, "the DataVolume to be re-adopted", func() bool {
					return ownedBy(get(t, ctx, d, DataVolumeGVR, ns, "data"), vm)
				})
				t.Logf("re-adopted %s after the strip", time.Since(stripped).Round(time.Millisecond))
				return
			}
			// Wake the VM controller up, then check the orphan stays an orphan.
			_, err := d.Resource(VirtualMachineGVR).Namespace(ns).Patch(ctx, "vm", types.MergePatchType,
				[]byte(`{"metadata":{"annotations":{"test/touch":"1"}}}`), metav1.PatchOptions{})
			require.NoError(t, err)
			holds(t, 1500*time.Millisecond, "the DataVolume to stay orphaned", func() bool {
				return controller(get(t, ctx, d, DataVolumeGVR, ns, "data")) == nil
			})
		})
	}
}

// TestClaimAdoption creates a PVC with content first (the passive site's
// replicated volume), then a DataVolume of the same name: when claim
// adoption is allowed the DataVolume adopts the PVC (same UID, content
// kept, no import); otherwise it leaves it alone.
func TestClaimAdoption(t *testing.T) {
	c := cluster(t, "a")
	ctx := testContext(t)
	d := dyn(t, c)

	tests := []struct {
		name        string
		viaVM       bool // the DataVolume comes from a VM template (annotated by virt-controller)
		featureGate bool
		wantAdopted bool
	}{
		{name: "template DataVolume of a VM", viaVM: true, wantAdopted: true},
		{name: "standalone DataVolume without annotation", wantAdopted: false},
		{name: "standalone DataVolume with the feature gate", featureGate: true, wantAdopted: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOptions("a")
			o.ClaimAdoptionFeatureGate = tt.featureGate
			o.WriteInterval = 100 * time.Millisecond
			startSim(t, c, o)
			ns := newNamespace(t, ctx, d, "adopt")

			pvc := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "v1", "kind": "PersistentVolumeClaim",
				"metadata": map[string]any{"name": "data", "namespace": ns},
				"spec": map[string]any{
					"accessModes": []any{string(corev1.ReadWriteOnce)},
					"resources":   map[string]any{"requests": map[string]any{"storage": "1Gi"}},
				},
			}}
			pvc = create(t, ctx, d, PersistentVolumeClaimGVR, pvc)
			var before []Record
			for i := 0; i < 3; i++ {
				r, err := AppendRecord(ctx, d, ns, "data", "dr1", 0)
				require.NoError(t, err)
				before = append(before, r)
			}

			if tt.viaVM {
				create(t, ctx, d, VirtualMachineGVR, vmObject(ns, vmSpec{name: "vm", runStrategy: RunStrategyAlways, disks: []string{"data"}}))
			} else {
				dv := newU(DataVolumeGVK)
				dv.SetNamespace(ns)
				dv.SetName("data")
				dv.Object["spec"] = map[string]any{"source": map[string]any{"blank": map[string]any{}}, "storage": map[string]any{}}
				create(t, ctx, d, DataVolumeGVR, dv)
			}

			if !tt.wantAdopted {
				waitFor(t, 10*time.Second, "the DataVolume to report the existing claim", func() bool {
					dv := get(t, ctx, d, DataVolumeGVR, ns, "data")
					return str(dv, "status", "phase") == DVPending && conditionStatus(dv, "Bound") == "False"
				})
				holds(t, time.Second, "the PVC to stay unowned", func() bool {
					p := get(t, ctx, d, PersistentVolumeClaimGVR, ns, "data")
					return p != nil && p.GetUID() == pvc.GetUID() && controller(p) == nil
				})
				return
			}
			waitFor(t, 10*time.Second, "the DataVolume to adopt the PVC and succeed", func() bool {
				dv := get(t, ctx, d, DataVolumeGVR, ns, "data")
				return str(dv, "status", "phase") == DVSucceeded && ownedBy(get(t, ctx, d, PersistentVolumeClaimGVR, ns, "data"), dv)
			})
			adopted := get(t, ctx, d, PersistentVolumeClaimGVR, ns, "data")
			assert.Equal(t, pvc.GetUID(), adopted.GetUID(), "the same PVC, not a new one")
			assert.NotContains(t, adopted.GetAnnotations(), AnnCreatedForDataVolume, "adopted, not created for the DataVolume")
			assert.Equal(t, "N/A", str(get(t, ctx, d, DataVolumeGVR, ns, "data"), "status", "progress"), "no import")
			content, err := ReadContent(ctx, d, ns, "data")
			require.NoError(t, err)
			require.GreaterOrEqual(t, len(content.Records), len(before))
			assert.Equal(t, before, content.Records[:len(before)], "the replicated records are kept")

			if tt.viaVM {
				vmRunning(t, ctx, d, ns, "vm")
				waitFor(t, 5*time.Second, "the writer to continue the sequence", func() bool {
					c, err := ReadContent(ctx, d, ns, "data")
					return err == nil && c.LastSeq > before[len(before)-1].Seq+1
				})
				content, err := ReadContent(ctx, d, ns, "data")
				require.NoError(t, err)
				for i, r := range content.Records {
					assert.Equal(t, int64(i+1), r.Seq, "sequence numbers continue without a gap")
				}
				assert.Equal(t, "a", content.Records[len(content.Records)-1].Writer)
			}
		})
	}
}
