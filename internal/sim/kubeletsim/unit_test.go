package kubeletsim

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "x", "B": "y"}
	lookup := func(n string) (string, bool) { v, ok := vars[n]; return v, ok }
	for in, want := range map[string]string{
		"plain":       "plain",
		"$(A)":        "x",
		"a-$(A)-$(B)": "a-x-y",
		"$$(A)":       "$(A)",
		"$(MISSING)":  "$(MISSING)",
		"$(A":         "$(A",
		"cost: $5":    "cost: $5",
		"end$":        "end$",
		"$()":         "$()",
		"$$$(A)":      "$x",
	} {
		assert.Equal(t, want, expand(in, lookup), "expand(%q)", in)
	}
}

func testPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "hook-abc", Namespace: "shop", UID: "u-1",
			Labels:      map[string]string{"batch.kubernetes.io/job-name": "gitover-disk-protection-postsync", "b": "2"},
			Annotations: map[string]string{"note": `say "hi"`},
		},
		Spec: corev1.PodSpec{NodeName: "sim-node", ServiceAccountName: "gitover-disk-protection"},
	}
}

func TestPodField(t *testing.T) {
	pod := testPod()
	addr := podAddresses{HostIP: "127.0.0.1", PodIP: "127.0.0.2"}
	for path, want := range map[string]string{
		"metadata.name":      "hook-abc",
		"metadata.namespace": "shop",
		"metadata.uid":       "u-1",
		"metadata.labels['batch.kubernetes.io/job-name']": "gitover-disk-protection-postsync",
		`metadata.labels["b"]`:                            "2",
		"metadata.labels['absent']":                       "",
		"metadata.annotations['note']":                    `say "hi"`,
		"metadata.labels":                                 "b=\"2\"\nbatch.kubernetes.io/job-name=\"gitover-disk-protection-postsync\"",
		"spec.nodeName":                                   "sim-node",
		"spec.serviceAccountName":                         "gitover-disk-protection",
		"status.hostIP":                                   "127.0.0.1",
		"status.podIP":                                    "127.0.0.2",
	} {
		got, err := podField(pod, path, addr)
		require.NoError(t, err, path)
		assert.Equal(t, want, got, path)
	}
	for _, bad := range []string{"spec.containers", "metadata.labels[b]", "status.phase"} {
		_, err := podField(pod, bad, addr)
		assert.ErrorContains(t, err, "not supported", bad)
	}
}

// fakeSources serves ConfigMaps and Secrets from maps.
type fakeSources struct {
	cms     map[string]*corev1.ConfigMap
	secrets map[string]*corev1.Secret
}

func (f fakeSources) configMap(_ context.Context, _, name string) (*corev1.ConfigMap, error) {
	if cm, ok := f.cms[name]; ok {
		return cm, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, name)
}

func (f fakeSources) secret(_ context.Context, _, name string) (*corev1.Secret, error) {
	if s, ok := f.secrets[name]; ok {
		return s, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
}

func TestResolveEnv(t *testing.T) {
	src := fakeSources{
		cms:     map[string]*corev1.ConfigMap{"site": {Data: map[string]string{"SITE": "primary", "URL": "https://x", "bad key": "skipped"}}},
		secrets: map[string]*corev1.Secret{"creds": {Data: map[string][]byte{"token": []byte("s3cret")}}},
	}
	c := &corev1.Container{
		EnvFrom: []corev1.EnvFromSource{
			{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "site"}}},
			{Prefix: "OPT_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Optional: ptr.To(true)}},
		},
		Env: []corev1.EnvVar{
			{Name: "NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
			{Name: "JOB_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['batch.kubernetes.io/job-name']"}}},
			{Name: "WHERE", Value: "$(SITE)/$(NAMESPACE)/$(LATER)"},
			{Name: "SITE", Value: "override"},
			{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "token"}}},
			{Name: "MAYBE", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "site"}, Key: "nope", Optional: ptr.To(true)}}},
			{Name: "LATER", Value: "late"},
		},
	}
	got, err := resolveEnv(context.Background(), src, testPod(), c, podAddresses{})
	require.NoError(t, err)
	assert.Equal(t, []envVar{
		{"SITE", "override"}, {"URL", "https://x"},
		{"NAMESPACE", "shop"}, {"JOB_NAME", "gitover-disk-protection-postsync"},
		{"WHERE", "primary/shop/$(LATER)"}, {"TOKEN", "s3cret"}, {"LATER", "late"},
	}, got)

	for name, c := range map[string]*corev1.Container{
		"resourceFieldRef": {Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}}}},
		"missing key":      {Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "site"}, Key: "nope"}}}}},
		"missing secret":   {Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Key: "k"}}}}},
		"unsupported path": {Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.containers"}}}}},
	} {
		_, err := resolveEnv(context.Background(), src, testPod(), c, podAddresses{})
		assert.Error(t, err, name)
	}
}

func TestImages(t *testing.T) {
	m := newImageMatcher(DefaultImages)
	for image, want := range map[string]bool{
		"ghcr.io/gitover/gitover:v0.1.0":         true,
		"ghcr.io/gitover/gitover":                true,
		"ghcr.io/gitover/gitover@sha256:0123":    true,
		"ghcr.io/gitover/gitover:v1@sha256:0123": true,
		"ghcr.io/gitover/gitover-extra:v1":       false,
		"docker.io/library/busybox:1.36.1":       false,
		"localhost:5000/gitover/gitover:v1":      false,
	} {
		assert.Equal(t, want, m.runs(image), image)
	}
	assert.True(t, newImageMatcher([]string{"localhost:5000/gitover:dev"}).runs("localhost:5000/gitover:v2"))
}

func TestCommandLine(t *testing.T) {
	env := []envVar{{"PHASE", "PostSync"}}
	argv, err := commandLine("/bin/gitover", &corev1.Container{Args: []string{"hook", "protect-disks", "--phase=$(PHASE)"}}, env)
	require.NoError(t, err)
	assert.Equal(t, []string{"/bin/gitover", "hook", "protect-disks", "--phase=PostSync"}, argv)
	argv, err = commandLine("/bin/gitover", &corev1.Container{Command: []string{"/usr/local/bin/gitover", "hook"}, Args: []string{"x"}}, env)
	require.NoError(t, err)
	assert.Equal(t, []string{"/bin/gitover", "hook", "x"}, argv)
	_, err = commandLine("/bin/gitover", &corev1.Container{Command: []string{"sh", "-c", "true"}}, env)
	assert.ErrorContains(t, err, "runs only the gitover binary")
}

func TestPodPhase(t *testing.T) {
	running := corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	waitingNew := corev1.ContainerStatus{State: waiting("ContainerCreating", "")}
	ok := corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}}
	bad := corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2}}}
	restarting := corev1.ContainerStatus{State: waiting("CrashLoopBackOff", ""), LastTerminationState: bad.State}
	S := func(s ...corev1.ContainerStatus) []corev1.ContainerStatus { return s }
	tests := []struct {
		name     string
		policy   corev1.RestartPolicy
		initDone bool
		init     []corev1.ContainerStatus
		main     []corev1.ContainerStatus
		want     corev1.PodPhase
	}{
		{"init running", corev1.RestartPolicyNever, false, S(running), S(waitingNew), corev1.PodPending},
		{"init failed, Never", corev1.RestartPolicyNever, false, S(bad), S(waitingNew), corev1.PodFailed},
		{"init failed, OnFailure retries", corev1.RestartPolicyOnFailure, false, S(bad), S(waitingNew), corev1.PodPending},
		{"not started", corev1.RestartPolicyAlways, true, nil, S(waitingNew), corev1.PodPending},
		{"running", corev1.RestartPolicyAlways, true, nil, S(running, ok), corev1.PodRunning},
		{"restarting", corev1.RestartPolicyAlways, true, nil, S(restarting), corev1.PodRunning},
		{"succeeded", corev1.RestartPolicyNever, true, nil, S(ok, ok), corev1.PodSucceeded},
		{"failed", corev1.RestartPolicyNever, true, nil, S(ok, bad), corev1.PodFailed},
		{"default policy, stopped", "", true, nil, S(ok), corev1.PodSucceeded},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, podPhase(tt.policy, tt.initDone, tt.init, tt.main), tt.name)
	}
}

func TestLogTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	var b strings.Builder
	b.WriteString("previous run\n=== marker\n")
	offset := int64(b.Len())
	for i := 0; i < 100; i++ {
		b.WriteString("line\n")
	}
	b.WriteString("gitover: unknown phase\n=== simulated kubelet: exited\n")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	msg := logTail(path, offset)
	assert.True(t, strings.HasSuffix(msg, "gitover: unknown phase"), msg)
	assert.Len(t, strings.Split(msg, "\n"), maxMessageLines)
	assert.NotContains(t, msg, "previous run")
}
