package diskhook_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitover/gitover/internal/diskhook"
	"github.com/gitover/gitover/internal/sim/kubevirtsim"
)

// TestDiskSurvival is the trap of DESIGN.md, proven against the real
// garbage collector: an Argo CD application's VM is removed from a site
// the way Argo CD removes it (foreground deletion of every tracked
// resource), after the given hook ran. Its template disks must survive
// only when the PreDelete hook ran — a PostSync-only hook is undone by
// KubeVirt's re-adoption of the DataVolumes.
func TestDiskSurvival(t *testing.T) {
	d := spoke(t)
	ctx := testContext(t)
	disks := []string{"root", "data"}

	tests := []struct {
		name      string
		readopt   bool           // KubeVirt re-adopts orphaned template DataVolumes (always true upstream)
		hook      diskhook.Phase // "" runs no hook
		wantDisks bool
	}{
		{name: "no hook", readopt: true, hook: "", wantDisks: false},
		{name: "PostSync only: the trap", readopt: true, hook: diskhook.PostSync, wantDisks: false},
		{name: "PostSync only without re-adoption", readopt: false, hook: diskhook.PostSync, wantDisks: true},
		{name: "PreDelete", readopt: true, hook: diskhook.PreDelete, wantDisks: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			startKubeVirt(t, tt.readopt)
			ns := newNamespace(t, ctx, d, "survival")
			machine := vm(ns, "vm", disks...)
			track(machine, "shop", "annotation")
			create(t, ctx, d, diskhook.VirtualMachines, machine)
			job := hookJob(ns, "gitover-disk-protection")
			track(job, "shop", "annotation")
			create(t, ctx, d, diskhook.Jobs, job)
			vmReady(t, ctx, d, ns, "vm", disks...)

			if tt.hook != "" {
				rep := runHook(t, ctx, d, ns, "gitover-disk-protection", tt.hook)
				assert.Equal(t, "shop", rep.Application)
				assert.Equal(t, []string{"vm"}, rep.VMs)
				assert.ElementsMatch(t, []string{"DataVolume/data", "DataVolume/root", "PersistentVolumeClaim/data", "PersistentVolumeClaim/root"}, rep.Disks)
			}
			if tt.hook == diskhook.PostSync {
				// Time passes between the sync and the failover.
				if tt.readopt {
					waitFor(t, 3*time.Second, "KubeVirt to re-adopt the DataVolumes", func() bool {
						return hasVMOwner(get(t, ctx, d, diskhook.DataVolumes, ns, "root")) && hasVMOwner(get(t, ctx, d, diskhook.DataVolumes, ns, "data"))
					})
				} else {
					holds(t, time.Second, "the DataVolumes to stay unowned", func() bool {
						return !hasVMOwner(get(t, ctx, d, diskhook.DataVolumes, ns, "root")) && !hasVMOwner(get(t, ctx, d, diskhook.DataVolumes, ns, "data"))
					})
				}
			}
			before := map[string]kubevirtsim.Record{}
			for _, disk := range disks {
				before[disk] = lastRecord(t, ctx, d, ns, disk)
			}

			deleted := argoDelete(t, ctx, d, ns, "shop")
			if tt.hook == diskhook.PreDelete {
				assert.Empty(t, deleted, "PreDelete already removed the VM; Argo CD finds nothing to delete")
			} else {
				assert.Equal(t, []string{"VirtualMachine/vm"}, deleted)
			}
			require.Nil(t, get(t, ctx, d, diskhook.VirtualMachines, ns, "vm"), "the VM is gone from the site")

			for _, disk := range disks {
				if !tt.wantDisks {
					waitFor(t, 30*time.Second, "disk "+disk+" (DataVolume, PVC, content) to be deleted", func() bool {
						return get(t, ctx, d, diskhook.DataVolumes, ns, disk) == nil &&
							get(t, ctx, d, diskhook.PVCs, ns, disk) == nil &&
							get(t, ctx, d, configMapsGVR, ns, kubevirtsim.ContentName(disk)) == nil
					})
					continue
				}
				holds(t, 2*time.Second, "disk "+disk+" (DataVolume, PVC, content) to survive", func() bool {
					_, e1 := alive(t, ctx, d, diskhook.DataVolumes, ns, disk)
					_, e2 := alive(t, ctx, d, diskhook.PVCs, ns, disk)
					_, e3 := alive(t, ctx, d, configMapsGVR, ns, kubevirtsim.ContentName(disk))
					return e1 == nil && e2 == nil && e3 == nil
				})
				dv := get(t, ctx, d, diskhook.DataVolumes, ns, disk)
				assert.False(t, hasVMOwner(dv), "DataVolume %s has no VM owner left", disk)
				ref := metav1.GetControllerOf(get(t, ctx, d, diskhook.PVCs, ns, disk))
				require.NotNil(t, ref, "PVC %s", disk)
				assert.Equal(t, dv.GetUID(), ref.UID, "PVC %s still belongs to its DataVolume", disk)
				c, err := kubevirtsim.ReadContent(ctx, d, ns, disk)
				require.NoError(t, err)
				assert.True(t, c.Has(before[disk]), "disk %s keeps its data", disk)
			}
			if tt.hook == diskhook.PreDelete {
				waitFor(t, 10*time.Second, "the guest to stop", func() bool { return get(t, ctx, d, diskhook.VMInstances, ns, "vm") == nil })
			}
		})
	}
}

// TestPreDeleteMarksArgoManagedDisks checks the namespace-level part of
// PreDelete: a standalone PVC Argo CD manages for the application is marked
// Delete=false (other sync options kept) and survives Argo CD's deletion;
// a PVC of another application is left alone and deleted with it.
func TestPreDeleteMarksArgoManagedDisks(t *testing.T) {
	d := spoke(t)
	ctx := testContext(t)
	startKubeVirt(t, true)

	tests := []struct {
		name    string
		options string // existing argocd.argoproj.io/sync-options
		want    string
	}{
		{name: "no sync options", options: "", want: "Delete=false"},
		{name: "other sync options kept", options: "Prune=false,ServerSideApply=true", want: "Prune=false,ServerSideApply=true,Delete=false"},
		{name: "Delete=true replaced", options: "Delete=true", want: "Delete=false"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := newNamespace(t, ctx, d, fmt.Sprintf("keep%d", i))
			var ann map[string]string
			if tt.options != "" {
				ann = map[string]string{argoSyncOptions: tt.options}
			}
			logs := pvc(ns, "logs", ann)
			track(logs, "shop", "label")
			create(t, ctx, d, diskhook.PVCs, logs)
			other := pvc(ns, "other-app-data", nil)
			track(other, "billing", "label")
			create(t, ctx, d, diskhook.PVCs, other)
			machine := vm(ns, "vm", "root")
			track(machine, "shop", "label")
			create(t, ctx, d, diskhook.VirtualMachines, machine)
			job := hookJob(ns, "hook")
			track(job, "shop", "label")
			create(t, ctx, d, diskhook.Jobs, job)
			vmReady(t, ctx, d, ns, "vm", "root")

			rep := runHook(t, ctx, d, ns, "hook", diskhook.PreDelete)
			assert.Equal(t, []string{"PersistentVolumeClaim/logs"}, rep.MarkedKeep)
			assert.Equal(t, tt.want, get(t, ctx, d, diskhook.PVCs, ns, "logs").GetAnnotations()[argoSyncOptions])
			assert.NotContains(t, get(t, ctx, d, diskhook.PVCs, ns, "other-app-data").GetAnnotations(), argoSyncOptions, "another application's PVC is not marked")

			assert.Empty(t, argoDelete(t, ctx, d, ns, "shop"), "Argo CD skips the Delete=false PVC and the VM is gone already")
			assert.Equal(t, []string{"PersistentVolumeClaim/other-app-data"}, argoDelete(t, ctx, d, ns, "billing"))
			holds(t, time.Second, "the marked PVC to survive", func() bool {
				_, err := alive(t, ctx, d, diskhook.PVCs, ns, "logs")
				return err == nil
			})
			assert.Nil(t, get(t, ctx, d, diskhook.PVCs, ns, "other-app-data"))
			_, err := alive(t, ctx, d, diskhook.PVCs, ns, "root")
			assert.NoError(t, err, "the VM's template disk survives too")
		})
	}
}

// TestPreDeleteScope puts two Argo CD applications in one namespace and
// runs the PreDelete hook of the first: its VM goes with its disks kept,
// while the second application's VM keeps running, owning its disks.
func TestPreDeleteScope(t *testing.T) {
	d := spoke(t)
	ctx := testContext(t)
	startKubeVirt(t, true)

	for _, method := range []string{"label", "annotation"} {
		t.Run("tracking by "+method, func(t *testing.T) {
			ns := newNamespace(t, ctx, d, "scope-"+method)
			for _, app := range []string{"a", "b"} {
				machine := vm(ns, "vm-"+app, app+"-root", app+"-data")
				track(machine, app, method)
				create(t, ctx, d, diskhook.VirtualMachines, machine)
				claim := pvc(ns, app+"-shared", nil)
				track(claim, app, method)
				create(t, ctx, d, diskhook.PVCs, claim)
			}
			job := hookJob(ns, "hook-a")
			track(job, "a", method)
			create(t, ctx, d, diskhook.Jobs, job)
			vmReady(t, ctx, d, ns, "vm-a", "a-root", "a-data")
			vmReady(t, ctx, d, ns, "vm-b", "b-root", "b-data")
			vmB := get(t, ctx, d, diskhook.VirtualMachines, ns, "vm-b")

			rep := runHook(t, ctx, d, ns, "hook-a", diskhook.PreDelete)
			assert.Equal(t, "a", rep.Application)
			assert.Equal(t, []string{"vm-a"}, rep.VMs)
			assert.Equal(t, []string{"vm-a"}, rep.OrphanedVMs)
			assert.ElementsMatch(t, []string{"DataVolume/a-data", "DataVolume/a-root", "PersistentVolumeClaim/a-data", "PersistentVolumeClaim/a-root", "PersistentVolumeClaim/a-shared"}, rep.Disks)
			assert.Equal(t, []string{"PersistentVolumeClaim/a-shared"}, rep.MarkedKeep)

			assert.Nil(t, get(t, ctx, d, diskhook.VirtualMachines, ns, "vm-a"))
			waitFor(t, 10*time.Second, "application a's guest to stop", func() bool { return get(t, ctx, d, diskhook.VMInstances, ns, "vm-a") == nil })
			cur := get(t, ctx, d, diskhook.VirtualMachines, ns, "vm-b")
			require.NotNil(t, cur, "application b's VM is untouched")
			assert.Equal(t, vmB.GetUID(), cur.GetUID())
			assert.Nil(t, cur.GetDeletionTimestamp())
			assert.NotNil(t, get(t, ctx, d, diskhook.VMInstances, ns, "vm-b"), "application b's VM keeps running")
			for _, disk := range []string{"b-root", "b-data"} {
				dv := get(t, ctx, d, diskhook.DataVolumes, ns, disk)
				ref := metav1.GetControllerOf(dv)
				require.NotNil(t, ref, "DataVolume %s", disk)
				assert.Equal(t, vmB.GetUID(), ref.UID, "DataVolume %s still belongs to application b's VM", disk)
			}
			assert.NotContains(t, get(t, ctx, d, diskhook.PVCs, ns, "b-shared").GetAnnotations(), argoSyncOptions)
			before := lastRecord(t, ctx, d, ns, "b-data")
			waitFor(t, 5*time.Second, "application b's guest to keep writing", func() bool {
				return lastRecord(t, ctx, d, ns, "b-data").Seq > before.Seq
			})
		})
	}
}

// TestPreDeleteUnderReAdoption runs several PreDelete hooks at once against
// VMs with several template disks while KubeVirt re-adopts. Stripping owner
// references before the orphan deletion made KubeVirt re-adopt at the very
// moment the VM was deleted; a DataVolume re-adopted after the garbage
// collector had orphaned the VM's dependents kept an owner reference to a
// deleted VM and was then collected as garbage, with its PVC (4 of 20 disks
// in 10 rounds). No disk may be lost.
func TestPreDeleteUnderReAdoption(t *testing.T) {
	d := spoke(t)
	ctx := testContext(t)
	startKubeVirt(t, true)
	disks := []string{"d0", "d1", "d2", "d3"}
	const vms = 4

	namespaces := make([]string, vms)
	for i := range namespaces {
		ns := newNamespace(t, ctx, d, fmt.Sprintf("readopt%d", i))
		namespaces[i] = ns
		machine := vm(ns, "vm", disks...)
		track(machine, "shop", "label")
		create(t, ctx, d, diskhook.VirtualMachines, machine)
		job := hookJob(ns, "hook")
		track(job, "shop", "label")
		create(t, ctx, d, diskhook.Jobs, job)
	}
	for _, ns := range namespaces {
		vmReady(t, ctx, d, ns, "vm", disks...)
	}

	var wg sync.WaitGroup
	errs := make([]error, vms)
	for i, ns := range namespaces {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = diskhook.Run(ctx, d, diskhook.Options{Namespace: ns, Phase: diskhook.PreDelete, JobName: "hook", WaitTimeout: 30 * time.Second, PollInterval: 50 * time.Millisecond}, testr.New(t))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "PreDelete in %s", namespaces[i])
	}

	var lost []string
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && len(lost) == 0 {
		for _, ns := range namespaces {
			for _, disk := range disks {
				_, e1 := alive(t, ctx, d, diskhook.DataVolumes, ns, disk)
				_, e2 := alive(t, ctx, d, diskhook.PVCs, ns, disk)
				if e1 != nil || e2 != nil {
					lost = append(lost, ns+"/"+disk)
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	assert.Empty(t, lost, "disks lost after PreDelete")
	for _, ns := range namespaces {
		for _, disk := range disks {
			if dv := get(t, ctx, d, diskhook.DataVolumes, ns, disk); dv != nil {
				assert.False(t, hasVMOwner(dv), "%s/%s keeps no owner reference to the deleted VM", ns, disk)
			}
		}
	}
}
