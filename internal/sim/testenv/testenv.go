// Package testenv starts real Kubernetes control-plane processes for
// component tests: one etcd, one kube-apiserver per named cluster (sharing
// the etcd through --etcd-prefix) and, per cluster, a kube-controller-manager
// running the garbage collector, the namespace controller and the PVC
// protection controller. Everything listens on 127.0.0.1, lives in a
// temporary directory and is stopped by Env.Stop.
//
// The binaries are those `make tools` builds into bin/ (kube-apiserver,
// kube-controller-manager) and Debian's etcd. A test package starts one
// Env in TestMain and shares it between its tests.
package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// DefaultControllers are the kube-controller-manager controllers started
// per cluster: garbage collection (owner references, propagation policies),
// namespace deletion, and PVC protection (without it a deleted PVC keeps the
// kubernetes.io/pvc-protection finalizer forever).
var DefaultControllers = []string{"garbagecollector", "namespace", "pvc-protection"}

// Options configure Start.
type Options struct {
	// Clusters names the clusters to start; default ["test"].
	Clusters []string
	// BinDir holds kube-apiserver and kube-controller-manager. Default
	// $GITOVER_LAB_BIN, else bin/ at the module root.
	BinDir string
	// Controllers run in each cluster's kube-controller-manager; default
	// DefaultControllers. Empty slice with NoControllerManager unset: defaults.
	Controllers []string
	// NoControllerManager starts no kube-controller-manager.
	NoControllerManager bool
	// BeforeControllers runs for each cluster once its apiserver is ready and
	// before its controller manager starts — the place to install CRDs, so
	// that the garbage collector watches them from its first discovery
	// (otherwise it notices new resources only at its next resync).
	BeforeControllers func(ctx context.Context, c *Cluster) error
}

// Env is a running set of clusters.
type Env struct {
	// Dir holds data, credentials and logs (logs/NAME.log).
	Dir      string
	clusters map[string]*Cluster
	order    []string
	binDir   string
	mu       sync.Mutex
	procs    []*proc
	keep     bool
}

// Cluster is one running apiserver (and controller manager).
type Cluster struct {
	Name string
	// Config is an admin rest.Config (bearer token in system:masters).
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig with the same credentials.
	Kubeconfig string
	// Server is the apiserver URL.
	Server string
}

type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// MissingBinaries lists the binaries Start needs but cannot find.
func MissingBinaries(binDir string) []string {
	if binDir == "" {
		binDir = DefaultBinDir()
	}
	var missing []string
	for _, b := range []string{"kube-apiserver", "kube-controller-manager"} {
		if fi, err := os.Stat(filepath.Join(binDir, b)); err != nil || fi.IsDir() {
			missing = append(missing, filepath.Join(binDir, b))
		}
	}
	if _, err := etcdPath(); err != nil {
		missing = append(missing, "etcd")
	}
	return missing
}

// DefaultBinDir is $GITOVER_LAB_BIN, else bin/ at the root of the module
// that contains the working directory.
func DefaultBinDir() string {
	if d := os.Getenv("GITOVER_LAB_BIN"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		return "bin"
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "bin")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "bin"
		}
		dir = parent
	}
}

func etcdPath() (string, error) {
	if p, err := exec.LookPath("etcd"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/bin/etcd", "/usr/sbin/etcd", "/usr/local/bin/etcd"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", errors.New("etcd not found (apt-get install -y etcd-server)")
}

// Start starts etcd, the apiservers and the controller managers, and waits
// until every apiserver is ready. On error everything started is stopped.
func Start(ctx context.Context, o Options) (env *Env, err error) {
	if len(o.Clusters) == 0 {
		o.Clusters = []string{"test"}
	}
	if o.BinDir == "" {
		o.BinDir = DefaultBinDir()
	}
	if len(o.Controllers) == 0 {
		o.Controllers = DefaultControllers
	}
	if missing := MissingBinaries(o.BinDir); len(missing) > 0 {
		return nil, fmt.Errorf("missing binaries (run `make tools`): %s", strings.Join(missing, ", "))
	}
	dir, err := os.MkdirTemp("", "gitover-testenv-")
	if err != nil {
		return nil, fmt.Errorf("creating the test environment directory: %w", err)
	}
	env = &Env{Dir: dir, binDir: o.BinDir, clusters: map[string]*Cluster{}, keep: os.Getenv("GITOVER_TESTENV_KEEP") == "1"}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w (logs in %s)", err, filepath.Join(dir, "logs"))
			env.keep = true
			_ = env.Stop()
			env = nil
		}
	}()

	token, err := env.credentials()
	if err != nil {
		return env, err
	}
	etcdURL, err := env.startEtcd(ctx)
	if err != nil {
		return env, err
	}

	var wg sync.WaitGroup
	errs := make([]error, len(o.Clusters))
	for i, name := range o.Clusters {
		port, err := freePort()
		if err != nil {
			return env, err
		}
		c := &Cluster{Name: name, Server: "https://127.0.0.1:" + strconv.Itoa(port)}
		c.Config = &rest.Config{
			Host:            c.Server,
			BearerToken:     token,
			TLSClientConfig: rest.TLSClientConfig{Insecure: true},
			QPS:             200,
			Burst:           400,
			Timeout:         30 * time.Second,
		}
		c.Kubeconfig = filepath.Join(dir, "kubeconfig-"+name+".yaml")
		if err := writeKubeconfig(c, token); err != nil {
			return env, err
		}
		env.clusters[name] = c
		env.order = append(env.order, name)
		if err := env.startAPIServer(c, port, etcdURL); err != nil {
			return env, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = env.bringUp(ctx, c, o)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return env, err
	}
	return env, nil
}

// bringUp waits for a cluster's apiserver, runs the hook and starts the
// controller manager.
func (e *Env) bringUp(ctx context.Context, c *Cluster, o Options) error {
	if err := waitReady(ctx, c.Config, e.proc("kube-apiserver-"+c.Name), 60*time.Second); err != nil {
		return err
	}
	if o.BeforeControllers != nil {
		if err := o.BeforeControllers(ctx, c); err != nil {
			return fmt.Errorf("preparing cluster %s: %w", c.Name, err)
		}
	}
	if o.NoControllerManager {
		return nil
	}
	_, err := e.start("kube-controller-manager-"+c.Name, filepath.Join(e.binDir, "kube-controller-manager"),
		"--kubeconfig="+c.Kubeconfig,
		"--controllers="+strings.Join(o.Controllers, ","),
		"--leader-elect=false",
		"--secure-port=0",
		"--authentication-skip-lookup",
		"--use-service-account-credentials=false",
		"--cluster-name="+c.Name,
		"--v=0",
	)
	return err
}

// Cluster returns a started cluster, or nil.
func (e *Env) Cluster(name string) *Cluster { return e.clusters[name] }

// Clusters returns the clusters in the order they were named.
func (e *Env) Clusters() []*Cluster {
	out := make([]*Cluster, 0, len(e.order))
	for _, n := range e.order {
		out = append(out, e.clusters[n])
	}
	return out
}

// Stop terminates every process (controller managers and apiservers first,
// etcd last) and removes the directory unless GITOVER_TESTENV_KEEP=1 or
// Start failed.
func (e *Env) Stop() error {
	if e == nil {
		return nil
	}
	var errs []error
	for i := len(e.procs) - 1; i >= 0; i-- {
		if err := e.procs[i].stop(10 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	e.procs = nil
	if !e.keep {
		if err := os.RemoveAll(e.Dir); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", e.Dir, err))
		}
	}
	return errors.Join(errs...)
}

// credentials writes the token file and the service-account key pair.
func (e *Env) credentials() (string, error) {
	buf := make([]byte, 16)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("generating the admin token: %w", err)
	}
	token := hex.EncodeToString(buf)
	line := token + ",testenv-admin,testenv-admin,system:masters\n"
	if err := os.WriteFile(filepath.Join(e.Dir, "tokens.csv"), []byte(line), 0o600); err != nil {
		return "", fmt.Errorf("writing the token file: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("generating the service-account key: %w", err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", err
	}
	for name, block := range map[string]*pem.Block{
		"sa.key": {Type: "EC PRIVATE KEY", Bytes: der},
		"sa.pub": {Type: "PUBLIC KEY", Bytes: pub},
	} {
		if err := os.WriteFile(filepath.Join(e.Dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			return "", fmt.Errorf("writing %s: %w", name, err)
		}
	}
	return token, nil
}

func (e *Env) startEtcd(ctx context.Context) (string, error) {
	etcd, err := etcdPath()
	if err != nil {
		return "", err
	}
	client, err := freePort()
	if err != nil {
		return "", err
	}
	peer, err := freePort()
	if err != nil {
		return "", err
	}
	clientURL := "http://127.0.0.1:" + strconv.Itoa(client)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peer)
	p, err := e.start("etcd", etcd,
		"--name=testenv",
		"--data-dir="+filepath.Join(e.Dir, "etcd"),
		"--listen-client-urls="+clientURL,
		"--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=testenv="+peerURL,
		// The apiservers' watch caches learn the current revision from
		// etcd's progress notifications; etcd 3.4 sends them every 10
		// minutes by default, so a watch started from a fresh list of a
		// quiet resource fails with "Too large resource version" until
		// the resource changes. Notify often.
		"--experimental-watch-progress-notify-interval=200ms",
		"--logger=zap",
		"--log-level=warn",
	)
	if err != nil {
		return "", err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(client), time.Second)
		if err == nil {
			conn.Close()
			return clientURL, nil
		}
		select {
		case <-p.done:
			return "", fmt.Errorf("etcd exited: %v (see %s)", p.err, p.log)
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("etcd not listening after 30s (see %s)", p.log)
		}
	}
}

func (e *Env) startAPIServer(c *Cluster, port int, etcdURL string) error {
	_, err := e.start("kube-apiserver-"+c.Name, filepath.Join(e.binDir, "kube-apiserver"),
		"--etcd-servers="+etcdURL,
		"--etcd-prefix=/testenv/"+c.Name,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(port),
		"--cert-dir="+filepath.Join(e.Dir, "certs-"+c.Name),
		"--token-auth-file="+filepath.Join(e.Dir, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+filepath.Join(e.Dir, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(e.Dir, "sa.key"),
		"--service-cluster-ip-range=10.96.0.0/16",
		"--endpoint-reconciler-type=none",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--v=0",
	)
	return err
}

// start runs one process in its own process group, output to logs/NAME.log.
func (e *Env) start(name, path string, args ...string) (*proc, error) {
	logDir := filepath.Join(e.Dir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", logDir, err)
	}
	logPath := filepath.Join(logDir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("creating the log of %s: %w", name, err)
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = e.Dir
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	e.mu.Lock()
	e.procs = append(e.procs, p)
	e.mu.Unlock()
	return p, nil
}

func (e *Env) proc(name string) *proc {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range e.procs {
		if p.name == name {
			return p
		}
	}
	return nil
}

// stop sends SIGTERM to the process group, then SIGKILL after grace.
func (p *proc) stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-p.done:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("%s (pid %d) did not exit", p.name, pgid)
	}
}

// waitReady polls /readyz until it answers ok.
func waitReady(ctx context.Context, cfg *rest.Config, p *proc, timeout time.Duration) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("building a client for %s: %w", cfg.Host, err)
	}
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if p != nil {
			select {
			case <-p.done:
				return fmt.Errorf("%s exited: %v (see %s)", p.name, p.err, p.log)
			default:
			}
		}
		body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").Timeout(2 * time.Second).Do(ctx).Raw()
		if err == nil && string(body) == "ok" {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("apiserver %s not ready after %s: %v", cfg.Host, timeout, last)
}

// writeKubeconfig writes the cluster's admin kubeconfig.
func writeKubeconfig(c *Cluster, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[c.Name] = &clientcmdapi.Cluster{Server: c.Server, InsecureSkipTLSVerify: true}
	cfg.AuthInfos[c.Name] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[c.Name] = &clientcmdapi.Context{Cluster: c.Name, AuthInfo: c.Name}
	cfg.CurrentContext = c.Name
	if err := clientcmd.WriteToFile(*cfg, c.Kubeconfig); err != nil {
		return fmt.Errorf("writing the kubeconfig of %s: %w", c.Name, err)
	}
	return nil
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
