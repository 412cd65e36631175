package kubevirtsim

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
)

// The replicated-volume stand-in. A PVC's "content" is the ConfigMap
// ContentName(pvc) in the PVC's namespace, controlled by the PVC (so the
// garbage collector deletes it exactly when the PVC goes). Its data:
//
//	records: one line per record, oldest first, at most MaxRecords lines:
//	         "seq=<n> time=<RFC3339Nano> writer=<name>"
//	lastSeq: the sequence number of the newest record ("0" when empty)
//
// Sequence numbers increase by one per record; after a failover the writer
// on the new site continues from the replicated lastSeq.

// Content data keys.
const (
	ContentKeyRecords = "records"
	ContentKeyLastSeq = "lastSeq"
)

// DefaultMaxRecords bounds the records kept in a content ConfigMap.
const DefaultMaxRecords = 1000

// ContentName is the name of a PVC's content ConfigMap.
func ContentName(pvc string) string { return pvc + ContentSuffix }

// Record is one line a writer appended to a volume.
type Record struct {
	Seq    int64
	Time   time.Time
	Writer string
}

// String formats a record as stored.
func (r Record) String() string {
	return fmt.Sprintf("seq=%d time=%s writer=%s", r.Seq, r.Time.UTC().Format(time.RFC3339Nano), r.Writer)
}

// ParseRecord parses one stored line.
func ParseRecord(line string) (Record, error) {
	var r Record
	var haveSeq, haveTime bool
	for _, f := range strings.Fields(line) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return Record{}, fmt.Errorf("record %q: field %q is not key=value", line, f)
		}
		switch k {
		case "seq":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return Record{}, fmt.Errorf("record %q: seq: %w", line, err)
			}
			r.Seq, haveSeq = n, true
		case "time":
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return Record{}, fmt.Errorf("record %q: time: %w", line, err)
			}
			r.Time, haveTime = t, true
		case "writer":
			r.Writer = v
		}
	}
	if !haveSeq || !haveTime {
		return Record{}, fmt.Errorf("record %q: want seq= and time=", line)
	}
	return r, nil
}

// Content is a PVC's simulated content.
type Content struct {
	Namespace string
	PVC       string
	// Records are the kept records, oldest first.
	Records []Record
	// LastSeq is the newest record's sequence number (0: none yet).
	LastSeq int64
}

// Last returns the newest record.
func (c *Content) Last() (Record, bool) {
	if c == nil || len(c.Records) == 0 {
		return Record{}, false
	}
	return c.Records[len(c.Records)-1], true
}

// Has reports whether the content holds a record with this sequence number
// and time.
func (c *Content) Has(r Record) bool {
	if c == nil {
		return false
	}
	for _, x := range c.Records {
		if x.Seq == r.Seq && x.Time.Equal(r.Time) {
			return true
		}
	}
	return false
}

// ReadContent reads a PVC's content. A missing ConfigMap is an error that
// satisfies apierrors.IsNotFound.
func ReadContent(ctx context.Context, c dynamic.Interface, namespace, pvc string) (*Content, error) {
	cm, err := c.Resource(ConfigMapGVR).Namespace(namespace).Get(ctx, ContentName(pvc), metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading the content of PVC %s/%s: %w", namespace, pvc, err)
	}
	return contentOf(cm)
}

// contentOf parses a content ConfigMap.
func contentOf(cm *unstructured.Unstructured) (*Content, error) {
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	out := &Content{Namespace: cm.GetNamespace(), PVC: strings.TrimSuffix(cm.GetName(), ContentSuffix)}
	if p := cm.GetAnnotations()[AnnContentPVC]; p != "" {
		out.PVC = p
	}
	for _, line := range strings.Split(data[ContentKeyRecords], "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		r, err := ParseRecord(line)
		if err != nil {
			return nil, fmt.Errorf("content of PVC %s/%s: %w", out.Namespace, out.PVC, err)
		}
		out.Records = append(out.Records, r)
	}
	if s := data[ContentKeyLastSeq]; s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("content of PVC %s/%s: lastSeq: %w", out.Namespace, out.PVC, err)
		}
		out.LastSeq = n
	} else if last, ok := out.Last(); ok {
		out.LastSeq = last.Seq
	}
	return out, nil
}

// contentData renders records for a content ConfigMap.
func contentData(records []Record, lastSeq int64) map[string]any {
	var b strings.Builder
	for _, r := range records {
		b.WriteString(r.String())
		b.WriteByte('\n')
	}
	return map[string]any{ContentKeyRecords: b.String(), ContentKeyLastSeq: strconv.FormatInt(lastSeq, 10)}
}

// newContentObject builds an empty content ConfigMap controlled by pvc.
func newContentObject(pvc *unstructured.Unstructured) *unstructured.Unstructured {
	cm := &unstructured.Unstructured{}
	cm.SetAPIVersion("v1")
	cm.SetKind("ConfigMap")
	cm.SetNamespace(pvc.GetNamespace())
	cm.SetName(ContentName(pvc.GetName()))
	cm.SetLabels(map[string]string{LabelVolumeContent: "true"})
	cm.SetAnnotations(map[string]string{AnnContentPVC: pvc.GetName(), AnnSimulation: SimulationNote})
	t := true
	cm.SetOwnerReferences([]metav1.OwnerReference{{
		APIVersion: "v1", Kind: "PersistentVolumeClaim", Name: pvc.GetName(), UID: pvc.GetUID(),
		Controller: &t, BlockOwnerDeletion: &t,
	}})
	_ = unstructured.SetNestedField(cm.Object, contentData(nil, 0), "data")
	return cm
}

// errPVCGone tells that a PVC does not exist or is being deleted.
var errPVCGone = errors.New("PVC does not exist or is being deleted")

// EnsureContent creates the (empty) content ConfigMap of an existing PVC
// unless it exists. It returns errPVCGone (wrapped) when the PVC is absent
// or being deleted.
func EnsureContent(ctx context.Context, c dynamic.Interface, namespace, pvc string) error {
	_, err := c.Resource(ConfigMapGVR).Namespace(namespace).Get(ctx, ContentName(pvc), metav1.GetOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading the content of PVC %s/%s: %w", namespace, pvc, err)
	}
	p, err := livePVC(ctx, c, namespace, pvc)
	if err != nil {
		return err
	}
	_, err = c.Resource(ConfigMapGVR).Namespace(namespace).Create(ctx, newContentObject(p), metav1.CreateOptions{FieldManager: LoggerName})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the content of PVC %s/%s: %w", namespace, pvc, err)
	}
	return nil
}

// livePVC returns a PVC that exists and is not being deleted.
func livePVC(ctx context.Context, c dynamic.Interface, namespace, name string) (*unstructured.Unstructured, error) {
	p, err := c.Resource(PersistentVolumeClaimGVR).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("PVC %s/%s: %w", namespace, name, errPVCGone)
	}
	if err != nil {
		return nil, fmt.Errorf("reading PVC %s/%s: %w", namespace, name, err)
	}
	if p.GetDeletionTimestamp() != nil {
		return nil, fmt.Errorf("PVC %s/%s: %w", namespace, name, errPVCGone)
	}
	return p, nil
}

// AppendRecord appends one record (sequence LastSeq+1, time now, writer) to
// a PVC's content, creating the content when missing, and keeps at most
// maxRecords records (DefaultMaxRecords when <= 0). Conflicting writers
// retry on fresh data.
func AppendRecord(ctx context.Context, c dynamic.Interface, namespace, pvc, writer string, maxRecords int) (Record, error) {
	if maxRecords <= 0 {
		maxRecords = DefaultMaxRecords
	}
	if writer == "" {
		writer = "unknown"
	}
	cms := c.Resource(ConfigMapGVR).Namespace(namespace)
	for attempt := 0; attempt < 10; attempt++ {
		cm, err := cms.Get(ctx, ContentName(pvc), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			if err := EnsureContent(ctx, c, namespace, pvc); err != nil {
				return Record{}, err
			}
			continue
		}
		if err != nil {
			return Record{}, fmt.Errorf("reading the content of PVC %s/%s: %w", namespace, pvc, err)
		}
		content, err := contentOf(cm)
		if err != nil {
			return Record{}, err
		}
		rec := Record{Seq: content.LastSeq + 1, Time: time.Now().UTC(), Writer: writer}
		records := append(content.Records, rec)
		if len(records) > maxRecords {
			records = records[len(records)-maxRecords:]
		}
		if err := unstructured.SetNestedField(cm.Object, contentData(records, rec.Seq), "data"); err != nil {
			return Record{}, err
		}
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: LoggerName})
		switch {
		case err == nil:
			return rec, nil
		case apierrors.IsConflict(err):
			continue
		default:
			return Record{}, fmt.Errorf("appending to the content of PVC %s/%s: %w", namespace, pvc, err)
		}
	}
	return Record{}, fmt.Errorf("appending to the content of PVC %s/%s: too many conflicting writers", namespace, pvc)
}
