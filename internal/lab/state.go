package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	gitoverv1alpha1 "github.com/gitover/gitover/api/v1alpha1"
)

// stateFile is the lab's record of itself, read by every later command
// (`lab down`, `lab status`, `lab fail`, tests attaching with Open).
const stateFile = "lab.json"

// Ports are the loopback ports of the lab's listeners.
type Ports struct {
	EtcdClient           int            `json:"etcdClient"`
	EtcdPeer             int            `json:"etcdPeer"`
	APIServers           map[string]int `json:"apiServers"`
	Redis                int            `json:"redis"`
	RepoServer           int            `json:"repoServer"`
	RepoServerMetrics    int            `json:"repoServerMetrics"`
	AppControllerMetrics int            `json:"appControllerMetrics"`
	AppSetMetrics        int            `json:"appSetMetrics"`
	AppSetProbe          int            `json:"appSetProbe"`
	AppSetWebhook        int            `json:"appSetWebhook"`
	Placement            int            `json:"placement"`
	Git                  int            `json:"git"`
}

// all lists every port (for allocation and the teardown check).
func (p *Ports) all() []*int {
	out := []*int{&p.EtcdClient, &p.EtcdPeer, &p.Redis, &p.RepoServer, &p.RepoServerMetrics,
		&p.AppControllerMetrics, &p.AppSetMetrics, &p.AppSetProbe, &p.AppSetWebhook, &p.Placement, &p.Git}
	return out
}

// state is persisted in DIR/lab.json.
type state struct {
	Dir                 string                 `json:"dir"`
	BinDir              string                 `json:"binDir"`
	Helper              []string               `json:"helper,omitempty"`
	PlanFile            string                 `json:"planFile"`
	RepoDir             string                 `json:"repoDir"`
	HubPath             string                 `json:"hubPath"`
	RepoName            string                 `json:"repoName"`
	Branch              string                 `json:"branch"`
	LabelKey            string                 `json:"labelKey"`
	Sites               []gitoverv1alpha1.Site `json:"sites"`
	ClusterSets         []string               `json:"clusterSets"`
	PlacementNamespaces []string               `json:"placementNamespaces"`
	ArgoCDNamespace     string                 `json:"argoCDNamespace"`
	HubApplication      string                 `json:"hubApplication"`
	KCMControllers      []string               `json:"kcmControllers"`
	Ports               Ports                  `json:"ports"`
	Processes           []*Process             `json:"processes,omitempty"`
	Failed              []string               `json:"failed,omitempty"`
}

// clusters returns hub followed by the spokes (the plan's sites).
func (s *state) clusters() []string {
	out := []string{HubCluster}
	for _, site := range s.Sites {
		out = append(out, site.Name)
	}
	return out
}

func (s *state) isSpoke(name string) bool {
	for _, site := range s.Sites {
		if site.Name == name {
			return true
		}
	}
	return false
}

func (s *state) process(name string) *Process {
	for _, p := range s.Processes {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// setProcess records p, replacing an earlier record of the same name.
func (s *state) setProcess(p *Process) {
	for i, q := range s.Processes {
		if q.Name == p.Name {
			s.Processes[i] = p
			return
		}
	}
	s.Processes = append(s.Processes, p)
}

func (s *state) removeProcess(name string) {
	out := s.Processes[:0]
	for _, p := range s.Processes {
		if p.Name != name {
			out = append(out, p)
		}
	}
	s.Processes = out
}

func (s *state) isFailed(name string) bool {
	for _, f := range s.Failed {
		if f == name {
			return true
		}
	}
	return false
}

func (s *state) setFailed(name string, failed bool) {
	out := s.Failed[:0]
	for _, f := range s.Failed {
		if f != name {
			out = append(out, f)
		}
	}
	if failed {
		out = append(out, name)
	}
	s.Failed = out
}

// loadState reads DIR/lab.json; it returns an error wrapping os.ErrNotExist
// when the lab was never started there.
func loadState(dir string) (*state, error) {
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, fmt.Errorf("reading lab state in %s: %w", dir, err)
	}
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("parsing lab state %s: %w", filepath.Join(dir, stateFile), err)
	}
	return &s, nil
}

// save writes the state atomically.
func (s *state) save() error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding lab state: %w", err)
	}
	path := filepath.Join(s.Dir, stateFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing lab state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing lab state: %w", err)
	}
	return nil
}

// lockDir takes an exclusive lock on DIR/lab.lock so that two commands never
// change one lab at once; the returned func releases it.
func lockDir(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating lab directory %s: %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "lab.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening lab lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("locking lab directory %s: %w", dir, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}

// isNotExist reports whether err says the lab state does not exist.
func isNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }
