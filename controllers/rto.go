package controllers

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitover/gitover/api/v1alpha1"
)

// computeRTO splits the recovery time into the seed's phases (RTO =
// detect + switch + appDeploy): detect from the source's loss to the
// request (zero when the source was not lost), switch from the request to
// the change landing on the branch (commit, or merge of the request), and
// appDeploy from the landing to the target's Applications Synced and
// Healthy. It returns nil until the timeline has those milestones.
func computeRTO(t v1alpha1.Timeline) *v1alpha1.RTOBreakdown {
	landed := t.Committed
	if t.Merged != nil {
		landed = t.Merged
	}
	if t.Requested == nil || landed == nil || t.Healthy == nil {
		return nil
	}
	var detect time.Duration
	if t.SourceLost != nil && t.SourceLost.Before(t.Requested) {
		detect = t.Requested.Sub(t.SourceLost.Time)
	}
	sw := nonNegative(landed.Sub(t.Requested.Time))
	deploy := nonNegative(t.Healthy.Sub(landed.Time))
	return &v1alpha1.RTOBreakdown{
		Detect:    &metav1.Duration{Duration: detect},
		Switch:    &metav1.Duration{Duration: sw},
		AppDeploy: &metav1.Duration{Duration: deploy},
		Total:     &metav1.Duration{Duration: detect + sw + deploy},
	}
}

// nonNegative clamps clock skew between milestones to zero.
func nonNegative(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}
