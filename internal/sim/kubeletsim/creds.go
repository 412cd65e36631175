package kubeletsim

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// podCredentials is what the kubelet's projected service-account volume
// gives a container, as a kubeconfig: the apiserver's address and CA, and
// a token the TokenRequest API issued for the Pod's ServiceAccount, bound
// to the Pod (invalid once the Pod is gone). The token lives in its own
// file, referenced by the kubeconfig's tokenFile, so that refreshing it
// (at 80% of its lifetime, as the kubelet does) needs no restart: client-go
// re-reads token files.
type podCredentials struct {
	Kubeconfig string
	tokenFile  string
	// issued and ttl drive the refresh; zero when the Pod has no token
	// (automountServiceAccountToken: false).
	issued time.Time
	ttl    time.Duration
}

// writeCredentials writes dir/kubeconfig (and dir/token) for a Pod.
func writeCredentials(ctx context.Context, c client.Client, server *rest.Config, pod *corev1.Pod, automount bool, ttl time.Duration, dir string) (*podCredentials, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	pc := &podCredentials{Kubeconfig: filepath.Join(dir, "kubeconfig"), tokenFile: filepath.Join(dir, "token")}
	cfg := clientcmdapi.NewConfig()
	cluster := &clientcmdapi.Cluster{Server: server.Host}
	switch {
	case len(server.CAData) > 0:
		cluster.CertificateAuthorityData = server.CAData
	case server.CAFile != "":
		cluster.CertificateAuthority = server.CAFile
	default:
		cluster.InsecureSkipTLSVerify = server.Insecure
	}
	cfg.Clusters["cluster"] = cluster
	user := &clientcmdapi.AuthInfo{}
	if automount {
		pc.ttl = ttl
		if err := pc.refresh(ctx, c, pod); err != nil {
			return nil, err
		}
		user.TokenFile = pc.tokenFile
	}
	cfg.AuthInfos["pod"] = user
	cfg.Contexts["pod"] = &clientcmdapi.Context{Cluster: "cluster", AuthInfo: "pod", Namespace: pod.Namespace}
	cfg.CurrentContext = "pod"
	if err := clientcmd.WriteToFile(*cfg, pc.Kubeconfig); err != nil {
		return nil, fmt.Errorf("writing the kubeconfig of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return pc, nil
}

// refresh asks the TokenRequest API for a new Pod-bound token and
// replaces the token file atomically.
func (pc *podCredentials) refresh(ctx context.Context, c client.Client, pod *corev1.Pod) error {
	sa := serviceAccountName(pod)
	tr := &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			// No audiences: the apiserver's own (its issuer), as the
			// kubelet's default projected token.
			ExpirationSeconds: ptr.To(int64(pc.ttl / time.Second)),
			BoundObjectRef:    &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID},
		},
	}
	account := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: sa}}
	if err := c.SubResource("token").Create(ctx, account, tr); err != nil {
		return fmt.Errorf("requesting a token for ServiceAccount %s/%s (pod %s): %w", pod.Namespace, sa, pod.Name, err)
	}
	tmp := pc.tokenFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(tr.Status.Token), 0o600); err != nil {
		return fmt.Errorf("writing the token of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	if err := os.Rename(tmp, pc.tokenFile); err != nil {
		return fmt.Errorf("writing the token of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	pc.issued = time.Now()
	return nil
}

// refreshDue reports whether 80% of the token's lifetime has passed.
func (pc *podCredentials) refreshDue(now time.Time) bool {
	return pc.ttl > 0 && now.Sub(pc.issued) >= pc.ttl*8/10
}

func serviceAccountName(pod *corev1.Pod) string {
	if pod.Spec.ServiceAccountName != "" {
		return pod.Spec.ServiceAccountName
	}
	return "default"
}

// automountToken decides, as the ServiceAccount admission plugin and the
// kubelet do, whether the Pod gets a token: the Pod's
// automountServiceAccountToken wins, else the ServiceAccount's, else yes.
func automountToken(ctx context.Context, r client.Reader, pod *corev1.Pod) (bool, error) {
	if pod.Spec.AutomountServiceAccountToken != nil {
		return *pod.Spec.AutomountServiceAccountToken, nil
	}
	sa := &corev1.ServiceAccount{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: pod.Namespace, Name: serviceAccountName(pod)}, sa); err != nil {
		return false, fmt.Errorf("reading ServiceAccount %s/%s: %w", pod.Namespace, serviceAccountName(pod), err)
	}
	if sa.AutomountServiceAccountToken != nil {
		return *sa.AutomountServiceAccountToken, nil
	}
	return true, nil
}
