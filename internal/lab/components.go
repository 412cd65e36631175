package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// Process names (also log file names under DIR/logs).
const (
	procEtcd          = "etcd"
	procRedis         = "redis"
	procGit           = "git-server"
	procPlacement     = "ocm-placement"
	procRepoServer    = "argocd-repo-server"
	procAppController = "argocd-application-controller"
	procAppSet        = "argocd-applicationset-controller"
)

func apiserverProc(cluster string) string { return "kube-apiserver-" + cluster }
func kcmProc(cluster string) string       { return "kube-controller-manager-" + cluster }

// Tool binaries expected in BinDir (installed by `make tools`).
const (
	binAPIServer = "kube-apiserver"
	binKCM       = "kube-controller-manager"
	binPlacement = "placement"
	binArgoCD    = "argocd"
	binKustomize = "kustomize"
)

// requiredTools lists the binaries the lab needs from BinDir.
var requiredTools = []string{binAPIServer, binKCM, binPlacement, binArgoCD, binKustomize}

// MissingTools returns the tool binaries and system commands the lab needs
// but cannot find (empty when the lab can start). binDir "" means the default.
func MissingTools(binDir string) []string {
	if binDir == "" {
		binDir = defaultBinDir()
	}
	var missing []string
	for _, t := range requiredTools {
		if fi, err := os.Stat(filepath.Join(binDir, t)); err != nil || fi.IsDir() {
			missing = append(missing, filepath.Join(binDir, t))
		}
	}
	for _, d := range []string{"ocm", "argocd"} {
		if m, _ := filepath.Glob(filepath.Join(binDir, "crds", d, "*.yaml")); len(m) == 0 {
			missing = append(missing, filepath.Join(binDir, "crds", d))
		}
	}
	for _, c := range []string{"etcd", "redis-server", "git"} {
		if _, err := lookPath(c); err != nil {
			missing = append(missing, c)
		}
	}
	return missing
}

// lookPath finds a system command in PATH or the usual sbin directories.
func lookPath(name string) (string, error) {
	for _, dir := range append(filepath.SplitList(os.Getenv("PATH")), "/usr/sbin", "/usr/bin", "/sbin") {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH (run `make tools`)", name)
}

func (l *Lab) bin(name string) string { return filepath.Join(l.st.BinDir, name) }

func loopback(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

func (l *Lab) etcdSpec() (ProcessSpec, error) {
	etcd, err := lookPath("etcd")
	if err != nil {
		return ProcessSpec{}, err
	}
	p := l.st.Ports
	client := "http://" + loopback(p.EtcdClient)
	peer := "http://" + loopback(p.EtcdPeer)
	return ProcessSpec{
		Name: procEtcd,
		Path: etcd,
		Args: []string{
			"--name=lab",
			"--data-dir=" + filepath.Join(l.st.Dir, "etcd"),
			"--listen-client-urls=" + client,
			"--advertise-client-urls=" + client,
			"--listen-peer-urls=" + peer,
			"--initial-advertise-peer-urls=" + peer,
			"--initial-cluster=lab=" + peer,
			"--logger=zap",
			"--log-level=warn",
			"--quota-backend-bytes=4294967296",
		},
		Env:   etcdEnv(),
		Ports: []int{p.EtcdClient, p.EtcdPeer},
	}, nil
}

// etcdEnv lets etcd 3.4 start on arm64, which it flags as unsupported.
func etcdEnv() []string {
	if runtime.GOARCH == "arm64" {
		return []string{"ETCD_UNSUPPORTED_ARCH=arm64"}
	}
	return nil
}

func (l *Lab) apiserverSpec(cluster string) ProcessSpec {
	port := l.st.Ports.APIServers[cluster]
	return ProcessSpec{
		Name:    apiserverProc(cluster),
		Cluster: cluster,
		Path:    l.bin(binAPIServer),
		Args: []string{
			"--etcd-servers=http://" + loopback(l.st.Ports.EtcdClient),
			"--etcd-prefix=/gitover-lab/" + cluster,
			"--bind-address=127.0.0.1",
			"--advertise-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(port),
			"--tls-cert-file=" + l.pki.ServerCert,
			"--tls-private-key-file=" + l.pki.ServerKey,
			"--client-ca-file=" + l.pki.CACert,
			"--token-auth-file=" + l.pki.TokenFile,
			"--authorization-mode=RBAC",
			"--service-account-issuer=https://kubernetes.default.svc",
			"--service-account-key-file=" + l.pki.SAPub,
			"--service-account-signing-key-file=" + l.pki.SAKey,
			"--service-cluster-ip-range=10.96.0.0/16",
			"--allow-privileged=true",
			"--endpoint-reconciler-type=none",
			"--enable-priority-and-fairness=false",
			"--profiling=false",
			"--cert-dir=" + filepath.Join(l.st.Dir, "apiserver", cluster),
			"--v=0",
		},
		Ports: []int{port},
	}
}

func (l *Lab) kcmSpec(cluster string) ProcessSpec {
	return ProcessSpec{
		Name:    kcmProc(cluster),
		Cluster: cluster,
		Path:    l.bin(binKCM),
		Args: []string{
			"--kubeconfig=" + kubeconfigPath(l.st.Dir, cluster),
			"--controllers=" + strings.Join(l.st.KCMControllers, ","),
			"--leader-elect=false",
			"--secure-port=0",
			"--authentication-skip-lookup",
			"--use-service-account-credentials=false",
			"--cluster-name=" + cluster,
			"--v=0",
		},
	}
}

func (l *Lab) redisSpec() (ProcessSpec, error) {
	redis, err := lookPath("redis-server")
	if err != nil {
		return ProcessSpec{}, err
	}
	dir := filepath.Join(l.st.Dir, "redis")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return ProcessSpec{}, fmt.Errorf("creating redis directory: %w", err)
	}
	return ProcessSpec{
		Name: procRedis,
		Path: redis,
		Args: []string{
			"--bind", "127.0.0.1",
			"--port", strconv.Itoa(l.st.Ports.Redis),
			"--save", "",
			"--appendonly", "no",
			"--protected-mode", "no",
			"--dir", dir,
			"--daemonize", "no",
		},
		Ports: []int{l.st.Ports.Redis},
	}, nil
}

func (l *Lab) gitServerSpec() (ProcessSpec, error) {
	if len(l.st.Helper) == 0 {
		return ProcessSpec{}, fmt.Errorf("starting the lab's Git server: no helper command configured (Config.Helper)")
	}
	args := append(append([]string{}, l.st.Helper[1:]...), "serve-git", "--dir", l.st.Dir)
	return ProcessSpec{
		Name:  procGit,
		Path:  l.st.Helper[0],
		Args:  args,
		Ports: []int{l.st.Ports.Git},
	}, nil
}

func (l *Lab) placementSpec() ProcessSpec {
	return ProcessSpec{
		Name:    procPlacement,
		Cluster: HubCluster,
		Path:    l.bin(binPlacement),
		Args: []string{
			"controller",
			"--kubeconfig=" + kubeconfigPath(l.st.Dir, HubCluster),
			"--namespace=" + PlacementNamespace,
			"--disable-leader-election",
			"--listen=" + loopback(l.st.Ports.Placement),
		},
		Ports: []int{l.st.Ports.Placement},
	}
}

// argoEnv is the environment shared by the Argo CD components.
func (l *Lab) argoEnv() []string {
	return []string{
		"KUBECONFIG=" + kubeconfigPath(l.st.Dir, HubCluster),
		// Argo CD treats https://kubernetes.default.svc as "in-cluster";
		// outside a pod it reaches the hub through KUBECONFIG instead.
		"ARGOCD_FAKE_IN_CLUSTER=true",
		"ARGOCD_GPG_ENABLED=false",
		// kustomize and the git askpass helper ("argocd") come from BinDir,
		// git-verify-wrapper.sh from the lab's run/bin.
		"PATH=" + strings.Join([]string{runBinDir(l.st.Dir), l.st.BinDir, os.Getenv("PATH")}, string(os.PathListSeparator)),
	}
}

// runBinDir holds the small scripts the lab provides to its processes.
func runBinDir(dir string) string { return filepath.Join(dir, "run", "bin") }

// gitVerifyWrapper stands in for the script of the same name in Argo CD's
// image: the repo-server runs it before every manifest generation to read a
// commit's signature (and fails the generation when it is missing). The lab
// runs with GPG disabled, so there is no signature to report.
const gitVerifyWrapper = `#!/bin/sh
# Written by the gitover lab: Argo CD's repo-server calls this with a commit;
# GPG verification is disabled in the lab, so it reports nothing.
exit 0
`

// writeRunScripts writes the lab's helper scripts into run/bin.
func writeRunScripts(dir string) error {
	bin := runBinDir(dir)
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", bin, err)
	}
	if err := os.WriteFile(filepath.Join(bin, "git-verify-wrapper.sh"), []byte(gitVerifyWrapper), 0o755); err != nil {
		return fmt.Errorf("writing git-verify-wrapper.sh: %w", err)
	}
	return nil
}

func (l *Lab) repoServerSpec() ProcessSpec {
	p := l.st.Ports
	return ProcessSpec{
		Name:  procRepoServer,
		Path:  l.bin(binArgoCD),
		Argv0: "argocd-repo-server",
		Args: []string{
			"--address=127.0.0.1",
			"--port=" + strconv.Itoa(p.RepoServer),
			"--metrics-address=127.0.0.1",
			"--metrics-port=" + strconv.Itoa(p.RepoServerMetrics),
			"--redis=" + loopback(p.Redis),
			"--disable-tls",
			"--client-ca-path=", // no mTLS on a plaintext loopback listener
			"--logformat=text",
			"--loglevel=info",
		},
		Env: append(l.argoEnv(),
			"ARGOCD_ASK_PASS_SOCK="+filepath.Join(l.st.Dir, "run", "askpass.sock"),
		),
		Ports: []int{p.RepoServer, p.RepoServerMetrics},
	}
}

func (l *Lab) appControllerSpec() ProcessSpec {
	p := l.st.Ports
	return ProcessSpec{
		Name:    procAppController,
		Cluster: HubCluster,
		Path:    l.bin(binArgoCD),
		Argv0:   "argocd-application-controller",
		Args: []string{
			"--namespace=" + l.st.ArgoCDNamespace,
			"--repo-server=" + loopback(p.RepoServer),
			"--repo-server-plaintext",
			"--redis=" + loopback(p.Redis),
			"--metrics-port=" + strconv.Itoa(p.AppControllerMetrics),
			"--status-processors=10",
			"--operation-processors=10",
			"--logformat=text",
			"--loglevel=info",
		},
		Env:   l.argoEnv(),
		Ports: []int{p.AppControllerMetrics},
	}
}

func (l *Lab) appSetSpec() ProcessSpec {
	p := l.st.Ports
	return ProcessSpec{
		Name:    procAppSet,
		Cluster: HubCluster,
		Path:    l.bin(binArgoCD),
		Argv0:   "argocd-applicationset-controller",
		Args: []string{
			"--namespace=" + l.st.ArgoCDNamespace,
			"--argocd-repo-server=" + loopback(p.RepoServer),
			"--repo-server-plaintext",
			"--metrics-addr=" + loopback(p.AppSetMetrics),
			"--probe-addr=" + loopback(p.AppSetProbe),
			"--webhook-addr=" + loopback(p.AppSetWebhook),
			"--enable-leader-election=false",
			"--logformat=text",
			"--loglevel=info",
		},
		Env:   l.argoEnv(),
		Ports: []int{p.AppSetMetrics, p.AppSetProbe, p.AppSetWebhook},
	}
}
