package cli

// The cluster-facing commands: they talk to the hub's apiserver, where the
// gitover controller runs, instead of to a repository.
//
//	gitover request failover|relocate --drplan NAME --to SITE [--wait]
//	gitover get --drplan NAME | --failover NAME [--watch]
//
// `gitover failover --plan FILE --repo DIR` (move.go) stays the local mode
// that commits from a work tree; `request` asks the controller instead, so
// the two never share flags.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/controllers"
)

func init() {
	Register(func() *cobra.Command { return newRequestCommand(Streams{}) })
	Register(func() *cobra.Command { return newGetCommand(Streams{}) })
}

// clusterOptions are the flags that reach the hub.
type clusterOptions struct {
	kubeconfig string
	context    string
	namespace  string
}

func (o *clusterOptions) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the hub (default: $KUBECONFIG or ~/.kube/config)")
	cmd.Flags().StringVar(&o.context, "context", "", "kubeconfig context to use")
	cmd.Flags().StringVarP(&o.namespace, "namespace", "n", "", "namespace of the DRPlan (default: the context's)")
}

// newClusterClient builds the hub client and the namespace to use; tests
// replace it.
var newClusterClient = func(o clusterOptions) (client.Client, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if o.kubeconfig != "" {
		rules.ExplicitPath = o.kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("loading the kubeconfig: %w", err)
	}
	ns := o.namespace
	if ns == "" {
		if ns, _, err = cc.Namespace(); err != nil || ns == "" {
			ns = "default"
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: controllers.NewScheme()})
	if err != nil {
		return nil, "", fmt.Errorf("connecting to the hub: %w", err)
	}
	return c, ns, nil
}

// pollInterval is how often --wait and --watch read the objects.
var pollInterval = 250 * time.Millisecond

// requestOptions are the flags of `request failover|relocate`.
type requestOptions struct {
	clusterOptions
	plan    string
	target  string
	mode    string
	name    string
	wait    bool
	timeout time.Duration
}

// newRequestCommand builds `gitover request`.
func newRequestCommand(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "request",
		Short: "Ask the gitover controller to move a DRPlan's application (creates a Failover)",
		Long: `request creates a Failover object on the hub; the gitover controller carries it
out through Git (a commit or a pull request, per the plan) and verifies the result.
With --wait it shows the steps as they happen, with the time since the request,
and exits non-zero when the Failover fails.`,
	}
	for _, a := range []v1alpha1.Action{v1alpha1.ActionFailover, v1alpha1.ActionRelocate} {
		cmd.AddCommand(newRequestActionCommand(s, a))
	}
	return cmd
}

// newRequestActionCommand builds `gitover request failover` or `relocate`.
func newRequestActionCommand(s Streams, action v1alpha1.Action) *cobra.Command {
	o := &requestOptions{timeout: 30 * time.Minute}
	verb := strings.ToLower(string(action))
	cmd := &cobra.Command{
		Use:   verb + " --drplan NAME --to SITE",
		Short: fmt.Sprintf("Create a Failover (action %s) of a DRPlan and optionally wait for it", action),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, errw := streams(s, cmd)
			c, ns, err := newClusterClient(o.clusterOptions)
			if err != nil {
				return err
			}
			fo, err := createFailover(cmd.Context(), c, ns, action, o)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "failover.gitover.io/%s created: %s %s to %s\n", fo.Name, verb, o.plan, o.target)
			if !o.wait {
				return nil
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
			defer cancel()
			fo, err = waitFailover(ctx, c, client.ObjectKeyFromObject(fo), out)
			if err != nil {
				return err
			}
			writeSummary(out, fo)
			if fo.Status.Phase == v1alpha1.PhaseFailed {
				fmt.Fprintln(errw)
				return &exitError{code: 1, err: fmt.Errorf("Failover %s failed: %s", fo.Name, failureMessage(fo))}
			}
			return nil
		},
	}
	o.bind(cmd)
	cmd.Flags().StringVar(&o.plan, "drplan", "", "the DRPlan to move")
	cmd.Flags().StringVar(&o.target, "to", "", "the site that becomes active")
	cmd.Flags().StringVar(&o.mode, "mode", "", "Direct or PullRequest (default: the plan's spec.git.mode)")
	cmd.Flags().StringVar(&o.name, "name", "", "name of the Failover (default: <plan>-<action>-<site>-<random>)")
	cmd.Flags().BoolVar(&o.wait, "wait", false, "show the steps live until the Failover succeeds or fails")
	cmd.Flags().DurationVar(&o.timeout, "timeout", o.timeout, "how long --wait waits")
	_ = cmd.MarkFlagRequired("drplan")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

// streams returns the command's output and error writers.
func streams(s Streams, cmd *cobra.Command) (io.Writer, io.Writer) {
	out, errw := s.Out, s.Err
	if out == nil {
		out = cmd.OutOrStdout()
	}
	if errw == nil {
		errw = cmd.ErrOrStderr()
	}
	return out, errw
}

// createFailover checks that the plan exists and creates the Failover.
func createFailover(ctx context.Context, c client.Client, ns string, action v1alpha1.Action, o *requestOptions) (*v1alpha1.Failover, error) {
	mode := v1alpha1.GitMode(o.mode)
	switch mode {
	case "", v1alpha1.ModeDirect, v1alpha1.ModePullRequest:
	default:
		return nil, fmt.Errorf("--mode %q: want Direct or PullRequest", o.mode)
	}
	var plan v1alpha1.DRPlan
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: o.plan}, &plan); err != nil {
		return nil, fmt.Errorf("reading DRPlan %s/%s: %w", ns, o.plan, err)
	}
	if plan.Spec.Site(o.target) == nil {
		return nil, fmt.Errorf("DRPlan %s has no site %q (sites: %s)", o.plan, o.target, strings.Join(plan.Spec.SiteNames(), ", "))
	}
	fo := &v1alpha1.Failover{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: o.name},
		Spec:       v1alpha1.FailoverSpec{PlanRef: v1alpha1.LocalObjectReference{Name: o.plan}, Action: action, TargetSite: o.target, Mode: mode},
	}
	if fo.Name == "" {
		fo.GenerateName = fmt.Sprintf("%s-%s-%s-", o.plan, strings.ToLower(string(action)), o.target)
	}
	if err := c.Create(ctx, fo); err != nil {
		return nil, fmt.Errorf("creating the Failover: %w", err)
	}
	return fo, nil
}

// waitFailover prints every step as it starts, changes its message and
// finishes, with the time since the request, until the Failover ends.
func waitFailover(ctx context.Context, c client.Client, key client.ObjectKey, out io.Writer) (*v1alpha1.Failover, error) {
	seen := map[string]string{}
	var start time.Time
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		fo := &v1alpha1.Failover{}
		if err := c.Get(ctx, key, fo); err != nil {
			return nil, fmt.Errorf("reading Failover %s: %w", key, err)
		}
		if start.IsZero() {
			start = fo.CreationTimestamp.Time
			if fo.Status.Timeline.Requested != nil {
				start = fo.Status.Timeline.Requested.Time
			}
		}
		for _, st := range fo.Status.Steps {
			line := fmt.Sprintf("%s %s", st.State, st.Message)
			if seen[string(st.Name)] == line {
				continue
			}
			seen[string(st.Name)] = line
			at := time.Now()
			if st.FinishedAt != nil {
				at = st.FinishedAt.Time
			}
			fmt.Fprintf(out, "[%s] %-13s %-9s %s\n", elapsed(at.Sub(start)), st.Name, st.State, st.Message)
		}
		if fo.Status.Phase == v1alpha1.PhaseSucceeded || fo.Status.Phase == v1alpha1.PhaseFailed {
			return fo, nil
		}
		select {
		case <-ctx.Done():
			return fo, fmt.Errorf("waiting for Failover %s (phase %s): %w", key.Name, fo.Status.Phase, ctx.Err())
		case <-tick.C:
		}
	}
}

// elapsed formats a duration since the request as +12.3s.
func elapsed(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return fmt.Sprintf("+%6.1fs", d.Seconds())
}

// failureMessage is the failed step's message.
func failureMessage(fo *v1alpha1.Failover) string {
	for i := len(fo.Status.Steps) - 1; i >= 0; i-- {
		if fo.Status.Steps[i].State == v1alpha1.StepFailed {
			return fo.Status.Steps[i].Message
		}
	}
	return "no failed step recorded"
}

// getOptions are the flags of `get`.
type getOptions struct {
	clusterOptions
	plan     string
	failover string
	watch    bool
}

// newGetCommand builds `gitover get`.
func newGetCommand(s Streams) *cobra.Command {
	o := &getOptions{}
	cmd := &cobra.Command{
		Use:   "get --drplan NAME | --failover NAME",
		Short: "Show a DRPlan (sites, conditions, latest Failover) or a Failover (steps, timeline, RTO) from the hub",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, _ := streams(s, cmd)
			if (o.plan == "") == (o.failover == "") {
				return errors.New("give exactly one of --drplan and --failover")
			}
			c, ns, err := newClusterClient(o.clusterOptions)
			if err != nil {
				return err
			}
			for {
				var b strings.Builder
				if err := describe(cmd.Context(), c, ns, o, &b); err != nil {
					return err
				}
				if !o.watch {
					_, err := io.WriteString(out, b.String())
					return err
				}
				fmt.Fprintf(out, "\x1b[H\x1b[2J%s", b.String())
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(pollInterval * 4):
				}
			}
		},
	}
	o.bind(cmd)
	cmd.Flags().StringVar(&o.plan, "drplan", "", "the DRPlan to show, with its latest Failover")
	cmd.Flags().StringVar(&o.failover, "failover", "", "the Failover to show")
	cmd.Flags().BoolVarP(&o.watch, "watch", "w", false, "redraw every second until interrupted")
	return cmd
}

// describe writes the requested object.
func describe(ctx context.Context, c client.Client, ns string, o *getOptions, w io.Writer) error {
	if o.failover != "" {
		var fo v1alpha1.Failover
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: o.failover}, &fo); err != nil {
			return fmt.Errorf("reading Failover %s/%s: %w", ns, o.failover, err)
		}
		writeFailover(w, &fo)
		return nil
	}
	var plan v1alpha1.DRPlan
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: o.plan}, &plan); err != nil {
		return fmt.Errorf("reading DRPlan %s/%s: %w", ns, o.plan, err)
	}
	writePlan(w, &plan)
	var list v1alpha1.FailoverList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("listing Failovers in %s: %w", ns, err)
	}
	var latest *v1alpha1.Failover
	for i := range list.Items {
		fo := &list.Items[i]
		if fo.Spec.PlanRef.Name != plan.Name {
			continue
		}
		if latest == nil || fo.CreationTimestamp.After(latest.CreationTimestamp.Time) ||
			(fo.CreationTimestamp.Equal(&latest.CreationTimestamp) && fo.Name > latest.Name) {
			latest = fo
		}
	}
	fmt.Fprintln(w)
	if latest == nil {
		fmt.Fprintln(w, "No Failover of this plan yet.")
		return nil
	}
	writeFailover(w, latest)
	return nil
}

// writePlan writes a DRPlan's sites and conditions.
func writePlan(w io.Writer, p *v1alpha1.DRPlan) {
	fmt.Fprintf(w, "DRPlan %s/%s\n", p.Namespace, p.Name)
	rev := ""
	if p.Status.Revision != "" {
		rev = fmt.Sprintf(" (%s at %s)", p.Spec.Git.EffectiveBranch(), shortSHA(p.Status.Revision))
	}
	fmt.Fprintf(w, "  Git site:   %s%s\n", orDash(p.Status.ActiveSite), rev)
	fmt.Fprintf(w, "  Live site:  %s\n", orDash(p.Status.ObservedSite))
	var sites []string
	for _, s := range p.Spec.Clusters.Sites {
		sites = append(sites, fmt.Sprintf("%s (%s=%s)", s.Name, p.Spec.Clusters.LabelKey, s.LabelValue))
	}
	fmt.Fprintf(w, "  Sites:      %s\n", strings.Join(sites, ", "))
	if p.Status.DivergedSince != nil {
		fmt.Fprintf(w, "  Diverged:   since %s (%s ago)\n", p.Status.DivergedSince.UTC().Format(time.RFC3339), time.Since(p.Status.DivergedSince.Time).Round(time.Second))
	}
	writeConditions(w, p.Status.Conditions, []string{v1alpha1.ConditionReady, v1alpha1.ConditionConverged, v1alpha1.ConditionProtected})
}

// writeConditions writes conditions, the named ones first.
func writeConditions(w io.Writer, conds []metav1.Condition, order []string) {
	if len(conds) == 0 {
		return
	}
	rank := map[string]int{}
	for i, t := range order {
		rank[t] = i + 1
	}
	sorted := append([]metav1.Condition(nil), conds...)
	sort.SliceStable(sorted, func(i, j int) bool {
		ri, rj := rank[sorted[i].Type], rank[sorted[j].Type]
		if ri == 0 {
			ri = len(order) + 1
		}
		if rj == 0 {
			rj = len(order) + 1
		}
		return ri < rj
	})
	fmt.Fprintln(w, "  Conditions:")
	for _, c := range sorted {
		fmt.Fprintf(w, "    %-21s %-7s %-22s %s\n", c.Type, c.Status, c.Reason, c.Message)
	}
}

// writeFailover writes a Failover's steps, timeline, RTO and conditions.
func writeFailover(w io.Writer, fo *v1alpha1.Failover) {
	action := fo.Spec.Action
	if action == "" {
		action = v1alpha1.ActionFailover
	}
	mode := string(fo.Spec.Mode)
	if mode == "" {
		mode = "plan's mode"
	}
	fmt.Fprintf(w, "Failover %s/%s: %s of %s %s → %s (%s): %s\n", fo.Namespace, fo.Name, action, fo.Spec.PlanRef.Name,
		orDash(fo.Status.SourceSite), fo.Spec.TargetSite, mode, orDash(string(fo.Status.Phase)))
	if fo.Status.Commit != "" {
		fmt.Fprintf(w, "  Commit:     %s\n", fo.Status.Commit)
	}
	if pr := fo.Status.PullRequest; pr != nil {
		fmt.Fprintf(w, "  Request:    #%d %s (%s, branch %s)\n", pr.Number, pr.URL, pr.State, pr.Branch)
	}
	start := fo.CreationTimestamp.Time
	if t := fo.Status.Timeline.Requested; t != nil {
		start = t.Time
	}
	if len(fo.Status.Steps) > 0 {
		fmt.Fprintf(w, "  %-10s %-13s %-9s %-9s %s\n", "STARTED", "STEP", "STATE", "TOOK", "MESSAGE")
		for _, s := range fo.Status.Steps {
			took := "-"
			if s.FinishedAt != nil {
				took = fmt.Sprintf("%.1fs", s.FinishedAt.Sub(s.StartedAt.Time).Seconds())
			}
			fmt.Fprintf(w, "  %-10s %-13s %-9s %-9s %s\n", elapsed(s.StartedAt.Sub(start)), s.Name, s.State, took, s.Message)
		}
	}
	tl := fo.Status.Timeline
	var marks []string
	for _, m := range []struct {
		name string
		at   *metav1.MicroTime
	}{{"source lost", tl.SourceLost}, {"requested", tl.Requested}, {"committed", tl.Committed}, {"proposal opened", tl.ProposalOpened},
		{"merged", tl.Merged}, {"placement decided", tl.PlacementDecided}, {"synced", tl.Synced}, {"healthy", tl.Healthy}, {"verified", tl.Verified}} {
		if m.at != nil {
			marks = append(marks, fmt.Sprintf("%s %s", m.name, strings.TrimSpace(elapsed(m.at.Sub(start)))))
		}
	}
	if len(marks) > 0 {
		fmt.Fprintf(w, "  Timeline:   %s\n", strings.Join(marks, ", "))
	}
	if r := fo.Status.RTO; r != nil {
		fmt.Fprintf(w, "  RTO:        %s (detect %s + switch %s + appDeploy %s)\n", dur(r.Total), dur(r.Detect), dur(r.Switch), dur(r.AppDeploy))
	}
	writeConditions(w, fo.Status.Conditions, []string{v1alpha1.ConditionSourceCleanupPending})
}

// writeSummary ends a --wait with the timeline and RTO.
func writeSummary(w io.Writer, fo *v1alpha1.Failover) {
	fmt.Fprintln(w)
	writeFailover(w, fo)
	if meta.IsStatusConditionTrue(fo.Status.Conditions, v1alpha1.ConditionSourceCleanupPending) {
		fmt.Fprintf(w, "\nThe source site %s is lost: its Applications are removed when it returns (watch SourceCleanupPending).\n", fo.Status.SourceSite)
	}
}

// dur formats an optional duration.
func dur(d *metav1.Duration) string {
	if d == nil {
		return "-"
	}
	return d.Duration.Round(10 * time.Millisecond).String()
}

// orDash returns s or "-".
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// shortSHA is a SHA's first 12 characters.
func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
