package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ProcessSpec describes one background process of the lab. Extra processes
// (for example the KubeVirt/CDI simulator of a spoke) are described the same
// way through Config.ExtraProcesses.
type ProcessSpec struct {
	// Name identifies the process in the lab state, its log file
	// (logs/NAME.log) and `lab status`; unique within a lab.
	Name string
	// Path is the executable.
	Path string
	// Args are the arguments after argv[0].
	Args []string
	// Argv0, when set, replaces argv[0] (Argo CD's multi-call binary picks
	// its component from it).
	Argv0 string
	// Env is added to a minimal environment (PATH, HOME, TMPDIR).
	Env []string
	// Dir is the working directory; default the lab directory.
	Dir string
	// Cluster is the cluster the process belongs to ("" for shared ones);
	// Fail stops and Restore restarts processes with Restart set.
	Cluster string
	// Ports are the loopback ports the process listens on, for readiness and
	// for `lab down`'s check that nothing is left listening.
	Ports []int
}

// Process is a started background process as recorded in the lab state.
type Process struct {
	Name    string   `json:"name"`
	Cluster string   `json:"cluster,omitempty"`
	PID     int      `json:"pid"`
	Start   uint64   `json:"start"` // /proc/PID/stat starttime, guards against PID reuse
	Args    []string `json:"args"`
	Log     string   `json:"log"`
	Ports   []int    `json:"ports,omitempty"`
}

// startProcess starts spec in its own process group with stdin from
// /dev/null and stdout/stderr appended to logDir/NAME.log, so that it
// outlives the caller. The child is reaped by a goroutine while the caller
// lives; afterwards init (or a subreaper) reaps it.
func startProcess(spec ProcessSpec, labDir, logDir string) (*Process, error) {
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating log directory for %s: %w", spec.Name, err)
	}
	logPath := filepath.Join(logDir, spec.Name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening log of %s: %w", spec.Name, err)
	}
	defer logFile.Close()
	fmt.Fprintf(logFile, "\n=== %s: starting %s %s\n", time.Now().Format(time.RFC3339), spec.Path, strings.Join(spec.Args, " "))

	// Not exec.CommandContext: the process must outlive ctx and this process.
	cmd := exec.Command(spec.Path, spec.Args...)
	if spec.Argv0 != "" {
		cmd.Args[0] = spec.Argv0
	}
	cmd.Dir = spec.Dir
	if cmd.Dir == "" {
		cmd.Dir = labDir
	}
	cmd.Env = append(baseEnv(labDir), spec.Env...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s (%s): %w", spec.Name, spec.Path, err)
	}
	go func() { _ = cmd.Wait() }()
	start, err := procStartTime(cmd.Process.Pid)
	if err != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		return nil, fmt.Errorf("reading start time of %s: %w", spec.Name, err)
	}
	return &Process{
		Name:    spec.Name,
		Cluster: spec.Cluster,
		PID:     cmd.Process.Pid,
		Start:   start,
		Args:    append([]string{spec.Path}, spec.Args...),
		Log:     logPath,
		Ports:   spec.Ports,
	}, nil
}

// baseEnv is the environment every lab process starts from: no inherited
// KUBECONFIG or credentials, just enough to run.
func baseEnv(labDir string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"TMPDIR=" + filepath.Join(labDir, "tmp"),
		"LANG=C.UTF-8",
	}
	return env
}

// procStartTime returns field 22 (starttime) of /proc/PID/stat.
func procStartTime(pid int) (uint64, error) {
	st, err := readProcStat(pid)
	if err != nil {
		return 0, err
	}
	return st.start, nil
}

type procStat struct {
	state byte
	pgid  int
	start uint64
}

// readProcStat parses /proc/PID/stat (the command may contain spaces and
// parentheses, so parse after the last ')').
func readProcStat(pid int) (procStat, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return procStat{}, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+2:])
	// f[0] is field 3 (state); starttime is field 22 -> f[19]; pgrp is field 5 -> f[2].
	if len(f) < 20 {
		return procStat{}, fmt.Errorf("short /proc/%d/stat", pid)
	}
	pgid, err := strconv.Atoi(f[2])
	if err != nil {
		return procStat{}, fmt.Errorf("parsing pgrp in /proc/%d/stat: %w", pid, err)
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("parsing starttime in /proc/%d/stat: %w", pid, err)
	}
	return procStat{state: f[0][0], pgid: pgid, start: start}, nil
}

// Alive reports whether the recorded process still runs (same PID and start
// time, not a zombie).
func (p *Process) Alive() bool {
	if p == nil || p.PID <= 0 {
		return false
	}
	st, err := readProcStat(p.PID)
	if err != nil {
		return false
	}
	return st.start == p.Start && st.state != 'Z' && st.state != 'X'
}

// groupMembers lists the live (non-zombie) PIDs in process group pgid.
func groupMembers(pgid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readProcStat(pid)
		if err != nil || st.pgid != pgid || st.state == 'Z' || st.state == 'X' {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// stop terminates the process group of p: SIGTERM, then SIGKILL after grace.
// It returns once no member of the group is left running.
func (p *Process) stop(ctx context.Context, grace time.Duration) error {
	if p == nil || p.PID <= 0 {
		return nil
	}
	// The group leader may be gone while children linger; only signal a
	// group we started (leader alive with our start time, or members left
	// in a group whose id is our recorded PID).
	if !p.Alive() && len(groupMembers(p.PID)) == 0 {
		return nil
	}
	_ = syscall.Kill(-p.PID, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !p.Alive() && len(groupMembers(p.PID)) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			deadline = time.Now()
		case <-time.After(50 * time.Millisecond):
		}
	}
	_ = syscall.Kill(-p.PID, syscall.SIGKILL)
	for i := 0; i < 100; i++ {
		if !p.Alive() && len(groupMembers(p.PID)) == 0 {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("process %s (pid %d) did not stop", p.Name, p.PID)
}

// rssBytes returns the resident memory of every live member of p's process
// group (children such as git or kustomize included).
func (p *Process) rssBytes() uint64 {
	if p == nil {
		return 0
	}
	var total uint64
	for _, pid := range groupMembers(p.PID) {
		total += readRSS(pid)
	}
	return total
}

// readRSS returns VmRSS of pid in bytes (0 when unknown).
func readRSS(pid int) uint64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "VmRSS:") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			return 0
		}
		kb, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return 0
		}
		return kb * 1024
	}
	return 0
}

// freePorts reserves n distinct free TCP ports on 127.0.0.1. They are free
// when returned; a process started soon after can bind them.
func freePorts(n int) ([]int, error) {
	lns := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range lns {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("reserving a loopback port: %w", err)
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// FreePorts reserves n distinct free TCP ports on 127.0.0.1, e.g. for the
// listeners of Config.ExtraProcesses (list them in ProcessSpec.Ports so that
// Up waits for them and Down checks they are closed).
func FreePorts(n int) ([]int, error) { return freePorts(n) }

// portFree reports whether nothing listens on 127.0.0.1:port.
func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// portListening reports whether something accepts connections on 127.0.0.1:port.
func portListening(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 200*time.Millisecond)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// waitFor polls check every interval until it returns true, ctx ends, or
// timeout passes; the last error check returned is wrapped into the result.
func waitFor(ctx context.Context, timeout, interval time.Duration, what string, check func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		ok, err := check(ctx)
		if ok {
			return nil
		}
		if errors.Is(err, errProcessExited) {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("waiting for %s: %w (last error: %w)", what, ctx.Err(), last)
			}
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// errProcessExited is returned when a process died while being waited for.
var errProcessExited = errors.New("process exited")
