package testenv

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestStart starts two apiservers on one etcd and checks that they are
// separate clusters and that each one's garbage collector works.
func TestStart(t *testing.T) {
	if m := MissingBinaries(""); len(m) > 0 {
		if os.Getenv("GITOVER_REQUIRE_TOOLS") == "1" {
			t.Fatalf("missing %v", m)
		}
		t.Skipf("missing %v (run `make tools`)", m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	env, err := Start(ctx, Options{Clusters: []string{"a", "b"}})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, env.Stop()) })
	t.Logf("two clusters ready in %s", time.Since(start))

	a, err := kubernetes.NewForConfig(env.Cluster("a").Config)
	require.NoError(t, err)
	b, err := kubernetes.NewForConfig(env.Cluster("b").Config)
	require.NoError(t, err)

	owner, err := a.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owner"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = a.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name:            "dependent",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "owner", UID: owner.UID}},
	}}, metav1.CreateOptions{})
	require.NoError(t, err)

	_, err = b.CoreV1().ConfigMaps("default").Get(ctx, "owner", metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "clusters must not share objects: %v", err)

	require.NoError(t, a.CoreV1().ConfigMaps("default").Delete(ctx, "owner", metav1.DeleteOptions{}))
	assert.Eventually(t, func() bool {
		_, err := a.CoreV1().ConfigMaps("default").Get(ctx, "dependent", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}, 30*time.Second, 100*time.Millisecond, "the garbage collector deletes the dependent")
	t.Logf("garbage collected after %s", time.Since(start))
}
