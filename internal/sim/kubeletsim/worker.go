package kubeletsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// containerKind tells init containers from regular ones.
type containerKind int

const (
	initContainer containerKind = iota
	mainContainer
)

// Termination message limits of the kubelet (FallbackToLogsOnError).
const (
	maxMessageBytes = 2048
	maxMessageLines = 80
)

// errPodGone means the Pod the worker runs was deleted or replaced.
var errPodGone = errors.New("pod is gone")

// podWorker runs one Pod bound to the node: its init containers in order,
// then its containers, and reports their states in the Pod's status.
type podWorker struct {
	k   *Kubelet
	pod *corev1.Pod // as first seen; the spec of a Pod does not change
	key types.NamespacedName
	log logr.Logger
	dir string

	mu        sync.Mutex
	init      []corev1.ContainerStatus
	main      []corev1.ContainerStatus
	initDone  bool
	startTime metav1.Time
	creds     *podCredentials
	grace     time.Duration
	confirm   bool
	stopCh    chan struct{} // closed when the Pod is to stop
	killNow   chan struct{} // closed when the grace period is cut to 0
	stopped   bool
	killed    bool

	pushMu  sync.Mutex    // serialises status writes
	credsMu sync.Mutex    // serialises credential creation
	done    chan struct{} // closed when run returns
}

func newPodWorker(k *Kubelet, pod *corev1.Pod) *podWorker {
	key := client.ObjectKeyFromObject(pod)
	return &podWorker{
		k: k, pod: pod.DeepCopy(), key: key,
		log:    k.log.WithValues("pod", key.String()),
		dir:    filepath.Join(k.o.WorkDir, fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID)),
		stopCh: make(chan struct{}), killNow: make(chan struct{}), done: make(chan struct{}),
	}
}

// finished reports whether run has returned.
func (w *podWorker) finished() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// stop asks the worker to stop the Pod's processes within grace (SIGTERM,
// then SIGKILL) and, with confirm, to delete the Pod with grace period 0
// afterwards. A later call may only shorten the grace period.
func (w *podWorker) stop(grace time.Duration, confirm bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.stopped, w.grace, w.confirm = true, grace, confirm
		close(w.stopCh)
	}
	if grace <= 0 && !w.killed {
		w.killed = true
		close(w.killNow)
	}
}

func (w *podWorker) stopping() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stopped
}

// gitover reports whether a container runs as a gitover process.
func (w *podWorker) gitover(c *corev1.Container) bool { return w.k.images.runs(c.Image) }

// run is the worker's life: restore what a previous simulation reported,
// run the init containers, then the containers; wait while something
// "runs"; on deletion, report the containers stopped and confirm it.
func (w *podWorker) run() {
	defer close(w.done)
	defer os.RemoveAll(w.dir)
	ctx := w.k.ctx
	w.restore()
	w.log.V(1).Info("pod starting")
	w.push(ctx)
	go w.refreshToken(ctx)
	if w.runInit(ctx) {
		w.runMain(ctx)
	}
	if !w.podTerminal() {
		select {
		case <-w.stopCh:
		case <-ctx.Done():
		}
	}
	if ctx.Err() != nil {
		return // the simulation stops: a stopped kubelet reports nothing
	}
	w.mu.Lock()
	stopped, confirm := w.stopped, w.confirm
	w.mu.Unlock()
	if !stopped {
		w.log.Info("pod finished", "phase", w.phase())
		return
	}
	w.markStopped()
	w.push(ctx)
	if confirm {
		if err := w.k.confirmDeletion(ctx, w.pod.Namespace, w.pod.Name, w.pod.UID); err != nil {
			w.log.Error(err, "confirming the deletion")
		}
	}
}

// restore builds the container statuses, keeping what the Pod already
// reports (after a restart of the simulation). A gitover container that
// was running is lost: its process died with the previous simulation, so
// it is reported as the kubelet reports a container it cannot find.
func (w *podWorker) restore() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.startTime = metav1.Now()
	if w.pod.Status.StartTime != nil {
		w.startTime = *w.pod.Status.StartTime
	}
	build := func(kind containerKind, specs []corev1.Container, existing []corev1.ContainerStatus, waitingReason string) []corev1.ContainerStatus {
		out := make([]corev1.ContainerStatus, len(specs))
		for i := range specs {
			c := &specs[i]
			st := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: imageID(c.Image),
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: waitingReason}}}
			for _, e := range existing {
				if e.Name != c.Name {
					continue
				}
				st.RestartCount, st.State, st.LastTerminationState = e.RestartCount, e.State, e.LastTerminationState
				st.ContainerID, st.Ready, st.Started = e.ContainerID, e.Ready, e.Started
				if e.State.Running != nil && w.gitover(c) {
					st.Ready, st.Started = false, ptrBool(false)
					st.State = corev1.ContainerState{}
					w.settle(&st, kind, &corev1.ContainerStateTerminated{
						ExitCode: 137, Reason: "ContainerStatusUnknown",
						Message:     "The container could not be located when the simulated kubelet restarted",
						StartedAt:   e.State.Running.StartedAt,
						FinishedAt:  metav1.Now(),
						ContainerID: e.ContainerID,
					})
				}
			}
			out[i] = st
		}
		return out
	}
	w.init = build(initContainer, w.pod.Spec.InitContainers, w.pod.Status.InitContainerStatuses, "PodInitializing")
	reason := "ContainerCreating"
	if len(w.pod.Spec.InitContainers) > 0 {
		reason = "PodInitializing"
	}
	w.main = build(mainContainer, w.pod.Spec.Containers, w.pod.Status.ContainerStatuses, reason)
}

// runInit runs the init containers in order; false when one failed for
// good or the Pod stops.
func (w *podWorker) runInit(ctx context.Context) bool {
	for i := range w.pod.Spec.InitContainers {
		c := &w.pod.Spec.InitContainers[i]
		st := w.status(initContainer, i)
		if t := st.State.Terminated; t != nil && t.ExitCode == 0 {
			continue
		}
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			// A sidecar: runs alongside the containers.
			if w.gitover(c) {
				w.update(initContainer, i, func(st *corev1.ContainerStatus) {
					st.State = waiting("CreateContainerConfigError", "sidecar containers of gitover's image are not supported by the kubelet simulation")
				})
				w.push(ctx)
				return false
			}
			w.update(initContainer, i, setRunning)
			continue
		}
		if w.gitover(c) {
			w.runContainer(ctx, c, initContainer, i)
		} else {
			w.update(initContainer, i, func(st *corev1.ContainerStatus) {
				now := metav1.Now()
				st.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now, ContainerID: containerID(w.pod, c.Name, st.RestartCount)}}
				st.Ready = true
			})
		}
		st = w.status(initContainer, i)
		if t := st.State.Terminated; t == nil || t.ExitCode != 0 {
			w.push(ctx)
			return false
		}
	}
	w.mu.Lock()
	w.initDone = true
	for i := range w.main {
		if s := w.main[i].State.Waiting; s != nil && s.Reason == "PodInitializing" {
			s.Reason = "ContainerCreating"
		}
	}
	w.mu.Unlock()
	return true
}

// runMain starts the containers: gitover's as processes (returning when
// they are done for good), the others as running at once.
func (w *podWorker) runMain(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range w.pod.Spec.Containers {
		c := &w.pod.Spec.Containers[i]
		if w.gitover(c) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.runContainer(ctx, c, mainContainer, i)
			}()
			continue
		}
		if w.status(mainContainer, i).State.Running == nil {
			w.update(mainContainer, i, func(st *corev1.ContainerStatus) {
				setRunning(st)
				st.ContainerID = containerID(w.pod, c.Name, st.RestartCount)
			})
			w.log.V(1).Info("container reported running (simulated, no process)", "container", c.Name, "image", c.Image)
		}
	}
	w.push(ctx)
	wg.Wait()
}

// runContainer runs a gitover container until it is done for good:
// terminated without a restart due, or the Pod stops.
func (w *podWorker) runContainer(ctx context.Context, c *corev1.Container, kind containerKind, i int) {
	backoff := w.k.o.RestartBackoff
	for {
		if w.status(kind, i).State.Terminated != nil || w.stopping() || ctx.Err() != nil {
			return
		}
		argv, env, err := w.prepare(ctx, c)
		if err != nil {
			w.log.Info("container cannot start", "container", c.Name, "error", err.Error())
			w.update(kind, i, func(st *corev1.ContainerStatus) { st.State = waiting("CreateContainerConfigError", err.Error()) })
			w.push(ctx)
			if !w.sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, w.k.o.MaxRestartBackoff)
			continue
		}
		term := w.exec(ctx, c, kind, i, argv, env)
		if ctx.Err() != nil {
			return
		}
		var restart bool
		w.update(kind, i, func(st *corev1.ContainerStatus) { restart = w.settle(st, kind, term) })
		w.push(ctx)
		if !restart {
			return
		}
		if !w.sleep(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, w.k.o.MaxRestartBackoff)
	}
}

// settle records a container's termination, as final or, when the restart
// policy says so (and the Pod is not stopping), as the last state of a
// container waiting to restart. Called with w.mu held.
func (w *podWorker) settle(st *corev1.ContainerStatus, kind containerKind, term *corev1.ContainerStateTerminated) (restart bool) {
	policy := w.pod.Spec.RestartPolicy
	if policy == "" {
		policy = corev1.RestartPolicyAlways
	}
	if !w.stopped {
		switch {
		case kind == initContainer:
			restart = term.ExitCode != 0 && policy != corev1.RestartPolicyNever
		case policy == corev1.RestartPolicyAlways:
			restart = true
		case policy == corev1.RestartPolicyOnFailure:
			restart = term.ExitCode != 0
		}
	}
	st.Ready, st.Started = false, ptrBool(false)
	if !restart {
		st.State = corev1.ContainerState{Terminated: term}
		return false
	}
	st.LastTerminationState = corev1.ContainerState{Terminated: term}
	reason := "ContainerCreating"
	if term.ExitCode != 0 {
		reason = "CrashLoopBackOff"
	}
	st.State = waiting(reason, fmt.Sprintf("restarting after exit code %d (simulated back-off)", term.ExitCode))
	st.RestartCount++
	return true
}

// prepare resolves a container's command line and environment, and the
// Pod's credentials on first use.
func (w *podWorker) prepare(ctx context.Context, c *corev1.Container) ([]string, []string, error) {
	addr := podAddresses{HostIP: w.k.o.NodeIP, PodIP: w.k.o.NodeIP}
	vars, err := resolveEnv(ctx, apiSources{w.k.live}, w.pod, c, addr)
	if err != nil {
		return nil, nil, err
	}
	argv, err := commandLine(w.k.o.GitoverBin, c, vars)
	if err != nil {
		return nil, nil, err
	}
	creds, err := w.credentials(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(filepath.Join(w.dir, "tmp"), 0o700); err != nil {
		return nil, nil, fmt.Errorf("creating the pod's work directory: %w", err)
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + w.dir,
		"TMPDIR=" + filepath.Join(w.dir, "tmp"),
		"HOSTNAME=" + w.pod.Name,
	}
	for _, v := range vars {
		env = append(env, v.Name+"="+v.Value)
	}
	// Last, so that the Pod's identity is the one the process uses.
	env = append(env, "KUBECONFIG="+creds.Kubeconfig)
	return argv, env, nil
}

// credentials writes the Pod's kubeconfig once.
func (w *podWorker) credentials(ctx context.Context) (*podCredentials, error) {
	w.credsMu.Lock()
	defer w.credsMu.Unlock()
	if w.creds != nil {
		return w.creds, nil
	}
	automount, err := automountToken(ctx, w.k.live, w.pod)
	if err != nil {
		return nil, err
	}
	creds, err := writeCredentials(ctx, w.k.c, w.k.server, w.pod, automount, w.k.o.TokenExpiration, filepath.Join(w.dir, "serviceaccount"))
	if err != nil {
		return nil, err
	}
	w.creds = creds
	return creds, nil
}

// refreshToken renews the Pod's token at 80% of its lifetime while the
// worker runs.
func (w *podWorker) refreshToken(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.done:
			return
		case now := <-t.C:
			w.credsMu.Lock()
			if w.creds != nil && w.creds.refreshDue(now) {
				if err := w.creds.refresh(ctx, w.k.c, w.pod); err != nil {
					w.log.Error(err, "refreshing the pod's service-account token")
				}
			}
			w.credsMu.Unlock()
		}
	}
}

// exec runs one container process and returns how it terminated.
func (w *podWorker) exec(ctx context.Context, c *corev1.Container, kind containerKind, i int, argv, env []string) *corev1.ContainerStateTerminated {
	restarts := w.status(kind, i).RestartCount
	id := containerID(w.pod, c.Name, restarts)
	fail := func(err error) *corev1.ContainerStateTerminated {
		now := metav1.Now()
		w.log.Error(err, "container failed to start", "container", c.Name)
		return &corev1.ContainerStateTerminated{ExitCode: 128, Reason: "StartError", Message: err.Error(), StartedAt: now, FinishedAt: now, ContainerID: id}
	}
	logPath := w.k.logPath(w.pod, c.Name)
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fail(fmt.Errorf("opening the container log: %w", err))
	}
	defer f.Close()
	offset, _ := f.Seek(0, io.SeekEnd)
	fmt.Fprintf(f, "=== %s simulated kubelet: pod %s container %s (restart %d) runs: %s\n",
		time.Now().UTC().Format(time.RFC3339Nano), w.key, c.Name, restarts, strings.Join(argv, " "))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = w.dir
	cmd.Stdout, cmd.Stderr = f, f
	// The process belongs to the simulation's process group (stopping the
	// simulation's group stops it) and dies with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fail(fmt.Errorf("starting %s: %w", argv[0], err))
	}
	started := metav1.Now()
	w.update(kind, i, func(st *corev1.ContainerStatus) {
		st.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}
		st.ContainerID = id
		st.Started = ptrBool(true)
		st.Ready = kind == mainContainer // no readiness probes are run
	})
	w.push(ctx)
	w.log.Info("container started (gitover process)", "container", c.Name, "pid", cmd.Process.Pid, "args", argv[1:], "log", logPath)

	waitCh := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(waitCh)
	}()
	select {
	case <-waitCh:
	case <-w.stopCh:
		w.kill(cmd.Process, waitCh)
	case <-ctx.Done():
		terminateWithin(cmd.Process, waitCh, 5*time.Second, nil)
	}
	code := exitCode(cmd.ProcessState)
	fmt.Fprintf(f, "=== %s simulated kubelet: container %s exited with code %d\n", time.Now().UTC().Format(time.RFC3339Nano), c.Name, code)
	term := &corev1.ContainerStateTerminated{ExitCode: code, Reason: "Completed", StartedAt: started, FinishedAt: metav1.Now(), ContainerID: id}
	if code != 0 {
		term.Reason = "Error"
		if c.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError {
			term.Message = logTail(logPath, offset)
		}
	}
	w.log.Info("container exited", "container", c.Name, "exitCode", code)
	return term
}

// kill stops a process for a Pod being deleted: SIGTERM, then SIGKILL
// when the grace period ends (or is cut to 0).
func (w *podWorker) kill(p *os.Process, exited <-chan struct{}) {
	w.mu.Lock()
	grace := w.grace
	w.mu.Unlock()
	select {
	case <-w.killNow:
		grace = 0
	default:
	}
	terminateWithin(p, exited, grace, w.killNow)
}

// terminateWithin sends SIGTERM, waits up to grace (or until cut is
// closed) for the process to exit, then SIGKILLs it and waits.
func terminateWithin(p *os.Process, exited <-chan struct{}, grace time.Duration, cut <-chan struct{}) {
	if grace > 0 {
		_ = p.Signal(syscall.SIGTERM)
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-exited:
			return
		case <-t.C:
		case <-cut:
		}
	}
	_ = p.Kill()
	<-exited
}

// exitCode is the container exit code of a finished process (128+signal
// when a signal ended it).
func exitCode(ps *os.ProcessState) int32 {
	if ps == nil {
		return 128
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int32(ws.Signal())
	}
	return int32(ps.ExitCode())
}

// logTail returns the end of what a run wrote to its log (from offset),
// within the kubelet's limits for termination messages.
func logTail(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	data, err := io.ReadAll(io.NewSectionReader(f, offset, 1<<30))
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	var kept []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "=== ") { // the simulation's own markers
			kept = append(kept, l)
		}
	}
	if len(kept) > maxMessageLines {
		kept = kept[len(kept)-maxMessageLines:]
	}
	msg := strings.Join(kept, "\n")
	if len(msg) > maxMessageBytes {
		msg = msg[len(msg)-maxMessageBytes:]
	}
	return msg
}

// markStopped reports the containers of a Pod being deleted as stopped:
// the simulated ones (no process) exit cleanly; waiting ones never ran.
func (w *podWorker) markStopped() {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := metav1.Now()
	stop := func(specs []corev1.Container, sts []corev1.ContainerStatus) {
		for i := range sts {
			st := &sts[i]
			if r := st.State.Running; r != nil {
				st.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 0, Reason: "Completed", StartedAt: r.StartedAt, FinishedAt: now, ContainerID: st.ContainerID}}
				st.Ready, st.Started = false, ptrBool(false)
			}
			if st.State.Waiting != nil && !w.gitover(&specs[i]) {
				st.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now}}
			}
		}
	}
	stop(w.pod.Spec.InitContainers, w.init)
	stop(w.pod.Spec.Containers, w.main)
}

// sleep waits d unless the Pod stops or the simulation ends.
func (w *podWorker) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-w.stopCh:
		return false
	case <-ctx.Done():
		return false
	}
}

// status returns a copy of a container's status.
func (w *podWorker) status(kind containerKind, i int) corev1.ContainerStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	if kind == initContainer {
		return *w.init[i].DeepCopy()
	}
	return *w.main[i].DeepCopy()
}

// update changes a container's status under the lock.
func (w *podWorker) update(kind containerKind, i int, f func(*corev1.ContainerStatus)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if kind == initContainer {
		f(&w.init[i])
		return
	}
	f(&w.main[i])
}

// phase is the Pod phase the current container states give.
func (w *podWorker) phase() corev1.PodPhase {
	w.mu.Lock()
	defer w.mu.Unlock()
	return podPhase(w.pod.Spec.RestartPolicy, w.initDone, w.init, w.main)
}

func (w *podWorker) podTerminal() bool {
	p := w.phase()
	return p == corev1.PodSucceeded || p == corev1.PodFailed
}

// push writes the Pod's status: phase, conditions, addresses and
// container statuses. A terminal status is never changed again; a Pod
// that is gone stops the worker.
func (w *podWorker) push(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	w.pushMu.Lock()
	defer w.pushMu.Unlock()
	w.mu.Lock()
	initDone := w.initDone
	init := deepCopyStatuses(w.init)
	main := deepCopyStatuses(w.main)
	start := w.startTime
	w.mu.Unlock()
	phase := podPhase(w.pod.Spec.RestartPolicy, initDone, init, main)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := &corev1.Pod{}
		if err := w.k.live.Get(ctx, w.key, cur); err != nil {
			return err
		}
		if cur.UID != w.pod.UID {
			return errPodGone
		}
		if terminal(cur) {
			return nil
		}
		next := cur.DeepCopy()
		w.applyStatus(&next.Status, phase, initDone, init, main, start)
		if equality.Semantic.DeepEqual(cur.Status, next.Status) {
			return nil
		}
		return w.k.c.Status().Update(ctx, next)
	})
	switch {
	case err == nil:
	case apierrors.IsNotFound(err) || errors.Is(err, errPodGone):
		w.stop(0, false)
	case ctx.Err() != nil:
	default:
		w.log.Error(err, "updating the pod status")
	}
}

// applyStatus sets the parts of a Pod's status the kubelet owns.
func (w *podWorker) applyStatus(s *corev1.PodStatus, phase corev1.PodPhase, initDone bool, init, main []corev1.ContainerStatus, start metav1.Time) {
	ip := w.k.o.NodeIP
	s.Phase = phase
	s.HostIP, s.HostIPs = ip, []corev1.HostIP{{IP: ip}}
	s.PodIP, s.PodIPs = ip, []corev1.PodIP{{IP: ip}}
	if s.StartTime == nil {
		s.StartTime = &start
	}
	s.InitContainerStatuses = nil
	if len(init) > 0 {
		s.InitContainerStatuses = init
	}
	s.ContainerStatuses = main
	ready := len(main) > 0
	for _, st := range main {
		ready = ready && st.Ready
	}
	done := phase == corev1.PodSucceeded || phase == corev1.PodFailed
	setCondition(s, corev1.PodReadyToStartContainers, !done, "", "")
	if initDone {
		setCondition(s, corev1.PodInitialized, true, "", "")
	} else {
		setCondition(s, corev1.PodInitialized, false, "ContainersNotInitialized", "containers with incomplete status: init containers")
	}
	switch {
	case ready:
		setCondition(s, corev1.ContainersReady, true, "", "")
		setCondition(s, corev1.PodReady, true, "", "")
	case done:
		setCondition(s, corev1.ContainersReady, false, "PodCompleted", "")
		setCondition(s, corev1.PodReady, false, "PodCompleted", "")
	default:
		setCondition(s, corev1.ContainersReady, false, "ContainersNotReady", "containers with unready status")
		setCondition(s, corev1.PodReady, false, "ContainersNotReady", "containers with unready status")
	}
}

// setCondition sets a Pod condition, keeping its transition time when
// the status does not change.
func setCondition(s *corev1.PodStatus, t corev1.PodConditionType, ok bool, reason, msg string) {
	status := corev1.ConditionFalse
	if ok {
		status = corev1.ConditionTrue
	}
	for i := range s.Conditions {
		c := &s.Conditions[i]
		if c.Type != t {
			continue
		}
		if c.Status != status {
			c.LastTransitionTime = metav1.Now()
		}
		c.Status, c.Reason, c.Message = status, reason, msg
		return
	}
	s.Conditions = append(s.Conditions, corev1.PodCondition{Type: t, Status: status, Reason: reason, Message: msg, LastTransitionTime: metav1.Now()})
}

// podPhase derives a Pod's phase from its containers, as the kubelet's
// getPhase does: Pending until the init containers succeeded (Failed when
// one failed for good), then Pending while a container has not started,
// Running while one runs or waits to restart, and once all terminated,
// Failed when one failed, else Succeeded.
func podPhase(policy corev1.RestartPolicy, initDone bool, init, main []corev1.ContainerStatus) corev1.PodPhase {
	if policy == "" {
		policy = corev1.RestartPolicyAlways
	}
	if !initDone {
		for _, s := range init {
			if t := s.State.Terminated; t != nil && t.ExitCode != 0 && policy == corev1.RestartPolicyNever {
				return corev1.PodFailed
			}
		}
		return corev1.PodPending
	}
	var waiting, running, failed int
	for _, s := range main {
		switch {
		case s.State.Running != nil:
			running++
		case s.State.Terminated != nil:
			if s.State.Terminated.ExitCode != 0 {
				failed++
			}
		case s.LastTerminationState.Terminated != nil:
			running++ // waiting to restart
		default:
			waiting++
		}
	}
	switch {
	case len(main) == 0 || waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case failed > 0:
		return corev1.PodFailed
	default:
		return corev1.PodSucceeded
	}
}

func deepCopyStatuses(in []corev1.ContainerStatus) []corev1.ContainerStatus {
	out := make([]corev1.ContainerStatus, len(in))
	for i := range in {
		in[i].DeepCopyInto(&out[i])
	}
	return out
}

func waiting(reason, msg string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}
}

// setRunning reports a simulated (process-less) container running and ready.
func setRunning(st *corev1.ContainerStatus) {
	st.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}
	st.Ready, st.Started = true, ptrBool(true)
}

func ptrBool(b bool) *bool { return &b }

// containerID names a container run.
func containerID(pod *corev1.Pod, container string, restarts int32) string {
	return fmt.Sprintf("%s%s/%s/%d", ContainerIDScheme, pod.UID, container, restarts)
}

// imageID is what the simulation reports as a container's image ID (no
// image is pulled).
func imageID(image string) string { return ContainerIDScheme + image }

// logPath is where a container's output goes.
func (k *Kubelet) logPath(pod *corev1.Pod, container string) string {
	return filepath.Join(k.o.LogDir, fmt.Sprintf("%s_%s_%s.log", pod.Namespace, pod.Name, container))
}
