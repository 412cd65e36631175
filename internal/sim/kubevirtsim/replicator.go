package kubevirtsim

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// ReplicatorOptions configure the replicated-volume stand-in between a
// source cluster and a destination cluster.
type ReplicatorOptions struct {
	// Namespace limits replication to one namespace; "" means all.
	Namespace string
	// Interval between synchronizations (stands in for the
	// ReplicationSource's spec.trigger.schedule); default 2s.
	Interval time.Duration
	// SourceName and DestinationName name the clusters in logs and in the
	// sim.gitover.io/replicated-from annotation.
	SourceName, DestinationName string
	// RequestTimeout bounds each API request, so that a lost cluster only
	// delays a synchronization; default 5s.
	RequestTimeout time.Duration
}

// Replicator copies PVC content from a source cluster to a destination
// cluster, for each PVC named by a ReplicationDestination on the
// destination (spec.rsyncTLS.destinationPVC, else spec.rsync.destinationPVC,
// else the object's name). No ReplicationDestination, no copy: deleting it
// stops replication, as the seed guide prescribes before a failover. A
// ReplicationSource on the source cluster whose spec.sourcePVC names the
// PVC is optional; when present its status is updated too. Either object
// with spec.paused: true pauses its PVC.
type Replicator struct {
	from, to dynamic.Interface
	o        ReplicatorOptions
	log      logr.Logger
}

// SyncResult says what one synchronization did.
type SyncResult struct {
	// Copied lists namespace/pvc of every volume copied.
	Copied []string
	// Skipped maps namespace/pvc to the reason it was not copied.
	Skipped map[string]string
}

// NewReplicator builds a replicator from the source to the destination cluster.
func NewReplicator(from, to *rest.Config, o ReplicatorOptions, log logr.Logger) (*Replicator, error) {
	if o.Interval <= 0 {
		o.Interval = 2 * time.Second
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 5 * time.Second
	}
	if o.SourceName == "" {
		o.SourceName = from.Host
	}
	if o.DestinationName == "" {
		o.DestinationName = to.Host
	}
	mk := func(cfg *rest.Config, which string) (dynamic.Interface, error) {
		c := rest.CopyConfig(cfg)
		c.Timeout = o.RequestTimeout
		d, err := dynamic.NewForConfig(c)
		if err != nil {
			return nil, fmt.Errorf("building a client for the %s cluster %s: %w", which, cfg.Host, err)
		}
		return d, nil
	}
	f, err := mk(from, "source")
	if err != nil {
		return nil, err
	}
	t, err := mk(to, "destination")
	if err != nil {
		return nil, err
	}
	return &Replicator{from: f, to: t, o: o, log: log.WithName(LoggerName).WithName("replicator").WithValues("from", o.SourceName, "to", o.DestinationName)}, nil
}

// Run synchronizes every Interval until ctx ends. Errors (a cluster down)
// are logged and retried at the next interval.
func (r *Replicator) Run(ctx context.Context) error {
	r.log.Info("volume replication simulation starting (a VolSync stand-in, not VolSync)", "namespace", r.o.Namespace, "interval", r.o.Interval)
	t := time.NewTicker(r.o.Interval)
	defer t.Stop()
	var lastErr string
	for {
		res, err := r.SyncOnce(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			if err.Error() != lastErr {
				r.log.Error(err, "synchronization failed; retrying every interval")
			}
			lastErr = err.Error()
		default:
			lastErr = ""
			if len(res.Copied) > 0 {
				r.log.V(1).Info("synchronized", "copied", res.Copied)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// SyncOnce performs one synchronization of every enabled destination.
func (r *Replicator) SyncOnce(ctx context.Context) (SyncResult, error) {
	res := SyncResult{Skipped: map[string]string{}}
	rds, err := r.to.Resource(ReplicationDestinationGVR).Namespace(r.o.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return res, fmt.Errorf("listing ReplicationDestinations on %s: %w", r.o.DestinationName, err)
	}
	var errs []error
	for i := range rds.Items {
		rd := &rds.Items[i]
		ns, pvc := rd.GetNamespace(), destinationPVC(rd)
		key := ns + "/" + pvc
		if rd.GetDeletionTimestamp() != nil {
			res.Skipped[key] = "ReplicationDestination is being deleted"
			continue
		}
		if paused, _, _ := unstructured.NestedBool(rd.Object, "spec", "paused"); paused {
			res.Skipped[key] = "ReplicationDestination is paused"
			continue
		}
		rs, err := r.source(ctx, ns, pvc)
		if err != nil {
			errs = append(errs, err)
			res.Skipped[key] = err.Error()
			r.setDestinationStatus(ctx, rd, nil, 0, err)
			continue
		}
		if rs != nil {
			if paused, _, _ := unstructured.NestedBool(rs.Object, "spec", "paused"); paused {
				res.Skipped[key] = "ReplicationSource is paused"
				continue
			}
		}
		start := time.Now()
		if err := r.copy(ctx, ns, pvc); err != nil {
			errs = append(errs, err)
			res.Skipped[key] = err.Error()
			r.setDestinationStatus(ctx, rd, nil, 0, err)
			continue
		}
		end := time.Now()
		res.Copied = append(res.Copied, key)
		r.setDestinationStatus(ctx, rd, &start, end.Sub(start), nil)
		if rs != nil {
			r.setSourceStatus(ctx, rs, start, end)
		}
	}
	return res, errors.Join(errs...)
}

// destinationPVC is the PVC a ReplicationDestination writes to.
func destinationPVC(rd *unstructured.Unstructured) string {
	for _, mover := range []string{"rsyncTLS", "rsync"} {
		if n := str(rd, "spec", mover, "destinationPVC"); n != "" {
			return n
		}
	}
	return rd.GetName()
}

// source finds the ReplicationSource of a PVC on the source cluster (nil
// when there is none).
func (r *Replicator) source(ctx context.Context, ns, pvc string) (*unstructured.Unstructured, error) {
	list, err := r.from.Resource(ReplicationSourceGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil // no VolSync API on the source: the source object is optional
	}
	if err != nil {
		return nil, fmt.Errorf("listing ReplicationSources in %s on %s: %w", ns, r.o.SourceName, err)
	}
	for i := range list.Items {
		if str(&list.Items[i], "spec", "sourcePVC") == pvc && list.Items[i].GetDeletionTimestamp() == nil {
			return &list.Items[i], nil
		}
	}
	return nil, nil
}

// copy mirrors one PVC's content from the source to the destination,
// creating the destination PVC (Bound) when it is missing.
func (r *Replicator) copy(ctx context.Context, ns, pvc string) error {
	src, err := r.from.Resource(PersistentVolumeClaimGVR).Namespace(ns).Get(ctx, pvc, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading source PVC %s/%s on %s: %w", ns, pvc, r.o.SourceName, err)
	}
	data := contentData(nil, 0)
	cm, err := r.from.Resource(ConfigMapGVR).Namespace(ns).Get(ctx, ContentName(pvc), metav1.GetOptions{})
	switch {
	case err == nil:
		if d, ok, _ := unstructured.NestedStringMap(cm.Object, "data"); ok {
			data = map[string]any{}
			for k, v := range d {
				data[k] = v
			}
		}
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("reading the content of %s/%s on %s: %w", ns, pvc, r.o.SourceName, err)
	}

	dst, err := r.destinationClaim(ctx, src)
	if err != nil {
		return err
	}
	cms := r.to.Resource(ConfigMapGVR).Namespace(ns)
	cur, err := cms.Get(ctx, ContentName(pvc), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		obj := newContentObject(dst)
		_ = unstructured.SetNestedMap(obj.Object, data, "data")
		if _, err := cms.Create(ctx, obj, metav1.CreateOptions{FieldManager: LoggerName}); err != nil {
			return fmt.Errorf("writing the content of %s/%s on %s: %w", ns, pvc, r.o.DestinationName, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the content of %s/%s on %s: %w", ns, pvc, r.o.DestinationName, err)
	}
	want := newContentObject(dst)
	next := cur.DeepCopy()
	_ = unstructured.SetNestedMap(next.Object, data, "data")
	next.SetOwnerReferences(want.GetOwnerReferences())
	if equality.Semantic.DeepEqual(cur.Object, next.Object) {
		return nil
	}
	if _, err := cms.Update(ctx, next, metav1.UpdateOptions{FieldManager: LoggerName}); err != nil {
		return fmt.Errorf("writing the content of %s/%s on %s: %w", ns, pvc, r.o.DestinationName, err)
	}
	return nil
}

// destinationClaim returns the destination PVC, creating it like the
// source (VolSync creates a missing destination PVC) and reporting it Bound.
func (r *Replicator) destinationClaim(ctx context.Context, src *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	ns, name := src.GetNamespace(), src.GetName()
	pvcs := r.to.Resource(PersistentVolumeClaimGVR).Namespace(ns)
	dst, err := pvcs.Get(ctx, name, metav1.GetOptions{})
	switch {
	case err == nil:
		if dst.GetDeletionTimestamp() != nil {
			return nil, fmt.Errorf("destination PVC %s/%s on %s is being deleted", ns, name, r.o.DestinationName)
		}
		return dst, nil
	case !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("reading destination PVC %s/%s on %s: %w", ns, name, r.o.DestinationName, err)
	}
	obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "PersistentVolumeClaim"}}
	obj.SetNamespace(ns)
	obj.SetName(name)
	obj.SetAnnotations(map[string]string{AnnReplicatedFrom: r.o.SourceName + "/" + ns + "/" + name, AnnSimulation: SimulationNote})
	spec := map[string]any{}
	for _, f := range []string{"accessModes", "resources", "storageClassName", "volumeMode"} {
		if v, ok, _ := unstructured.NestedFieldCopy(src.Object, "spec", f); ok {
			spec[f] = v
		}
	}
	if _, ok := spec["accessModes"]; !ok {
		spec["accessModes"] = []any{"ReadWriteOnce"}
	}
	if _, ok := spec["resources"]; !ok {
		spec["resources"] = map[string]any{"requests": map[string]any{"storage": "1Gi"}}
	}
	obj.Object["spec"] = spec
	created, err := pvcs.Create(ctx, obj, metav1.CreateOptions{FieldManager: LoggerName})
	if err != nil {
		return nil, fmt.Errorf("creating destination PVC %s/%s on %s: %w", ns, name, r.o.DestinationName, err)
	}
	status := map[string]any{"phase": "Bound", "accessModes": spec["accessModes"]}
	if size, ok, _ := unstructured.NestedFieldCopy(spec, "resources", "requests", "storage"); ok {
		status["capacity"] = map[string]any{"storage": size}
	}
	bound := created.DeepCopy()
	bound.Object["status"] = status
	if updated, err := pvcs.UpdateStatus(ctx, bound, metav1.UpdateOptions{FieldManager: LoggerName}); err == nil {
		created = updated
	}
	r.log.Info("created destination PVC", "pvc", ns+"/"+name)
	return created, nil
}

// setDestinationStatus records a synchronization (start != nil) or a
// failure on the ReplicationDestination.
func (r *Replicator) setDestinationStatus(ctx context.Context, rd *unstructured.Unstructured, start *time.Time, d time.Duration, syncErr error) {
	next := rd.DeepCopy()
	now := metav1.Now()
	if start != nil {
		setSyncTimes(next, *start, now.Time, d)
		setConditions(next, now, condition{Type: "Synchronizing", Status: "False", Reason: "WaitingForSchedule", Message: "simulated synchronization complete; waiting for the next one"})
	} else {
		setConditions(next, now, condition{Type: "Synchronizing", Status: "False", Reason: "Error", Message: syncErr.Error()})
	}
	if equality.Semantic.DeepEqual(rd.Object["status"], next.Object["status"]) {
		return
	}
	if _, err := r.to.Resource(ReplicationDestinationGVR).Namespace(rd.GetNamespace()).UpdateStatus(ctx, next, metav1.UpdateOptions{FieldManager: LoggerName}); err != nil && ctx.Err() == nil {
		r.log.V(1).Info("could not update ReplicationDestination status", "name", rd.GetNamespace()+"/"+rd.GetName(), "error", err.Error())
	}
}

// setSourceStatus records a synchronization on the ReplicationSource.
func (r *Replicator) setSourceStatus(ctx context.Context, rs *unstructured.Unstructured, start, end time.Time) {
	next := rs.DeepCopy()
	setSyncTimes(next, start, end, end.Sub(start))
	_ = unstructured.SetNestedField(next.Object, end.Add(r.o.Interval).UTC().Format(time.RFC3339), "status", "nextSyncTime")
	setConditions(next, metav1.NewTime(end), condition{Type: "Synchronizing", Status: "False", Reason: "WaitingForSchedule", Message: "simulated synchronization complete; waiting for the next one"})
	if _, err := r.from.Resource(ReplicationSourceGVR).Namespace(rs.GetNamespace()).UpdateStatus(ctx, next, metav1.UpdateOptions{FieldManager: LoggerName}); err != nil && ctx.Err() == nil {
		r.log.V(1).Info("could not update ReplicationSource status", "name", rs.GetNamespace()+"/"+rs.GetName(), "error", err.Error())
	}
}

// setSyncTimes writes VolSync's lastSyncStartTime, lastSyncTime and
// lastSyncDuration (metav1.Time and metav1.Duration encodings).
func setSyncTimes(obj *unstructured.Unstructured, start, end time.Time, d time.Duration) {
	st, _, _ := unstructured.NestedMap(obj.Object, "status")
	if st == nil {
		st = map[string]any{}
	}
	st = maps.Clone(st)
	st["lastSyncStartTime"] = start.UTC().Format(time.RFC3339)
	st["lastSyncTime"] = end.UTC().Format(time.RFC3339)
	st["lastSyncDuration"] = d.Round(time.Millisecond).String()
	obj.Object["status"] = st
}
