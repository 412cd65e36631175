package deploy_test

import (
	"debug/elf"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/gitover/gitover/internal/version"
)

// There is no container engine here, so the Dockerfile is checked by other
// means: its instructions are read and linted, its build context is
// computed from .dockerignore with Docker's matching rules, and its go build
// command is run on exactly that context.

const repoRoot = ".."

// instruction is one Dockerfile instruction with continuations joined.
type instruction struct {
	cmd  string // upper-case, e.g. FROM
	args string
}

func dockerfile(t *testing.T) []instruction {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	require.NoError(t, err)
	var out []instruction
	var cur strings.Builder
	for line := range strings.SplitSeq(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	require.Zero(t, cur.Len(), "the Dockerfile ends inside a continued line")
	return out
}

// buildCommand returns the `go build` command of the builder stage (after
// "RUN" and its --mount flags, environment assignments removed).
func buildCommand(t *testing.T, ins []instruction) []string {
	t.Helper()
	for _, in := range ins {
		if in.cmd != "RUN" || !strings.Contains(in.args, "go build") {
			continue
		}
		_, cmd, ok := strings.Cut(in.args, "go build")
		require.True(t, ok)
		return append([]string{"build"}, shellFields(t, cmd)...)
	}
	t.Fatal("no RUN ... go build in the Dockerfile")
	return nil
}

// shellFields splits a shell command line with double quotes, as /bin/sh
// would for the simple words the Dockerfile uses.
func shellFields(t *testing.T, s string) []string {
	t.Helper()
	var out []string
	var cur strings.Builder
	inQuote, inWord := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
			inWord = true
		case (r == ' ' || r == '\t') && !inQuote:
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	require.False(t, inQuote, "unbalanced quotes in %q", s)
	if inWord {
		out = append(out, cur.String())
	}
	return out
}

func TestDockerfile(t *testing.T) {
	ins := dockerfile(t)
	var froms, users, entrypoints []string
	env := map[string]string{}
	for _, in := range ins {
		switch in.cmd {
		case "FROM":
			froms = append(froms, in.args)
		case "USER":
			users = append(users, in.args)
		case "ENTRYPOINT":
			entrypoints = append(entrypoints, in.args)
		case "ENV":
			for _, kv := range strings.Fields(in.args) {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
		case "ADD":
			t.Errorf("ADD fetches or unpacks implicitly; use COPY: %s", in.args)
		}
	}
	require.Len(t, froms, 2, "a builder stage and a final stage")
	assert.Regexp(t, `^--platform=\$BUILDPLATFORM golang:1\.26(\.\d+)? AS build$`, froms[0])
	assert.Equal(t, "gcr.io/distroless/static-debian12:nonroot", froms[1], "distroless static, non-root")
	assert.Equal(t, []string{"65532:65532"}, users, "the final image runs as distroless' nonroot user")
	assert.Equal(t, []string{`["/gitover"]`}, entrypoints, "exec form; the controller and the hooks pass their subcommands as args")
	assert.Equal(t, "0", env["CGO_ENABLED"], "a static binary for distroless/static")
	assert.Equal(t, "local", env["GOTOOLCHAIN"], "never download another toolchain in the build")

	cmd := buildCommand(t, ins)
	assert.Contains(t, cmd, "-trimpath")
	assert.Equal(t, "./cmd/gitover", cmd[len(cmd)-1])
	i := slices.Index(cmd, "-o")
	require.GreaterOrEqual(t, i, 0)
	assert.Equal(t, "/gitover", cmd[i+1], "ENTRYPOINT runs what the build wrote")
	i = slices.Index(cmd, "-ldflags")
	require.GreaterOrEqual(t, i, 0)
	assert.Equal(t, "-s -w -X github.com/gitover/gitover/internal/version.Version=${VERSION}", cmd[i+1])

	// The Deployment and the generated hooks run this image: its default
	// VERSION is the release the manifests pin.
	assert.Contains(t, joined(ins), "ARG VERSION="+version.Version)
}

func joined(ins []instruction) string {
	var b strings.Builder
	for _, in := range ins {
		b.WriteString(in.cmd + " " + in.args + "\n")
	}
	return b.String()
}

// ignoreRule is one .dockerignore line, as Docker reads it.
type ignoreRule struct {
	segments []string
	negate   bool
}

// parseDockerignore reads .dockerignore text with Docker's rules: one
// pattern a line, # comments, ! exceptions, paths relative to the context
// root (a leading / is dropped), cleaned like filepath.Clean.
func parseDockerignore(text string) []ignoreRule {
	var out []ignoreRule
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := ignoreRule{}
		if strings.HasPrefix(line, "!") {
			r.negate = true
			line = strings.TrimSpace(line[1:])
		}
		line = strings.TrimPrefix(path.Clean("/"+line), "/")
		r.segments = strings.Split(line, "/")
		out = append(out, r)
	}
	return out
}

// matchSegments matches path segments against pattern segments; "**"
// matches any number of segments, other segments use filepath.Match.
func matchSegments(pat, segs []string) bool {
	if len(pat) == 0 {
		return len(segs) == 0
	}
	if pat[0] == "**" {
		for i := 0; i <= len(segs); i++ {
			if matchSegments(pat[1:], segs[i:]) {
				return true
			}
		}
		return false
	}
	if len(segs) == 0 {
		return false
	}
	ok, err := filepath.Match(pat[0], segs[0])
	return err == nil && ok && matchSegments(pat[1:], segs[1:])
}

// ignored reports whether Docker leaves rel (slash-separated, relative to
// the context) out of the context: the last rule that matches it or one of
// its parent directories decides.
func ignored(rules []ignoreRule, rel string) bool {
	segs := strings.Split(rel, "/")
	out := false
	for _, r := range rules {
		for i := 1; i <= len(segs); i++ {
			if matchSegments(r.segments, segs[:i]) {
				out = !r.negate
				break
			}
		}
	}
	return out
}

func TestDockerignoreMatching(t *testing.T) {
	rules := parseDockerignore("# comment\n.git\nbin/\n/test/\n**/*.test\nhack/tools/*/bin/\ndocs\n!docs/install.md\n")
	tests := []struct {
		path string
		want bool
	}{
		{".git/config", true},
		{"bin/gitover", true},
		{"bin", true},
		{"test/e2e/lab_test.go", true},
		{"internal/test/x.go", false},
		{"overlays.test", true},
		{"overlays/overlays.test", true},
		{"hack/tools/gen/bin/controller-gen", true},
		{"hack/tools/gen/go.mod", false},
		{"docs/git.md", true},
		{"docs/install.md", false},
		{"cmd/gitover/main.go", false},
		{"binary/x.go", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			assert.Equal(t, tt.want, ignored(rules, tt.path))
		})
	}
}

// buildInputs lists the repository files `go build ./cmd/gitover` reads:
// go.mod, go.sum, and the Go and embedded files of every package of this
// module it compiles.
func buildInputs(t *testing.T) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-f",
		`{{if .Module}}{{if .Module.Main}}{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{range .EmbedFiles}} {{.}}{{end}}{{end}}{{end}}`,
		"./cmd/gitover")
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	require.NoError(t, err)
	root, err := filepath.Abs(repoRoot)
	require.NoError(t, err)
	files := []string{"go.mod", "go.sum"}
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		rel, err := filepath.Rel(root, f[0])
		require.NoError(t, err)
		for _, name := range f[1:] {
			files = append(files, filepath.ToSlash(filepath.Join(rel, name)))
		}
	}
	require.Greater(t, len(files), 20, "go list found too few files")
	return files
}

func dockerignoreRules(t *testing.T) []ignoreRule {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	require.NoError(t, err)
	return parseDockerignore(string(b))
}

// TestDockerContext checks that .dockerignore keeps everything the build
// needs and drops what the brief says it must.
func TestDockerContext(t *testing.T) {
	rules := dockerignoreRules(t)
	for _, f := range buildInputs(t) {
		assert.False(t, ignored(rules, f), ".dockerignore excludes %s, which the build needs", f)
	}
	for _, f := range []string{".git/HEAD", "bin/gitover", "test/e2e/lab_test.go", "overlays.test", "test/argocdcompat/go.mod"} {
		assert.True(t, ignored(rules, f), "%s must not be in the build context", f)
	}
}

// copyContext copies the build context (the repository minus .dockerignore)
// into dir.
func copyContext(t *testing.T, dir string) {
	t.Helper()
	rules := dockerignoreRules(t)
	root := os.DirFS(repoRoot)
	require.NoError(t, fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == "." {
			return err
		}
		if ignored(rules, p) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		target := filepath.Join(dir, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := fs.ReadFile(root, p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	}))
}

// TestImageBinary runs the Dockerfile's go build command on the Dockerfile's
// build context, as the builder stage would (CGO off, no VCS stamping), and
// checks the binary the final stage ships: static, stripped, the injected
// version, and the subcommands the Deployment and the hook Jobs run.
//
// A cold -trimpath build compiles every dependency again (minutes), so it
// runs only with GITOVER_IMAGE_TEST=1: `make image-check`, part of `make test`.
func TestImageBinary(t *testing.T) {
	if os.Getenv("GITOVER_IMAGE_TEST") != "1" {
		t.Skip("set GITOVER_IMAGE_TEST=1 (make image-check) to build the image's binary")
	}
	ctxDir := t.TempDir()
	copyContext(t, ctxDir)
	const testVersion = "v0.0.0-imagetest"
	args := buildCommand(t, dockerfile(t))
	out := filepath.Join(t.TempDir(), "gitover")
	for i, a := range args {
		a = strings.ReplaceAll(a, "${VERSION}", testVersion)
		if i > 0 && args[i-1] == "-o" {
			a = out
		}
		args[i] = a
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = ctxDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOFLAGS=-buildvcs=false",
		"GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "go %s\n%s", strings.Join(args, " "), b)

	f, err := elf.Open(out)
	require.NoError(t, err)
	defer f.Close()
	for _, p := range f.Progs {
		assert.NotEqual(t, elf.PT_INTERP, p.Type, "dynamically linked: distroless/static has no libc")
	}
	assert.Nil(t, f.Section(".symtab"), "not stripped (-s)")
	assert.Nil(t, f.Section(".debug_info"), "DWARF not stripped (-w)")

	run := func(args ...string) string {
		b, err := exec.Command(out, args...).CombinedOutput()
		require.NoError(t, err, "gitover %s: %s", strings.Join(args, " "), b)
		return string(b)
	}
	assert.Contains(t, run("--version"), testVersion, "-X did not set internal/version.Version")
	assert.Contains(t, run("hook", "protect-disks", "--help"), "--phase", "the hook Jobs run `gitover hook protect-disks`")

	// Every flag the Deployment passes must be one `gitover controller` has.
	help, err := exec.Command(out, "controller", "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(help), "--leader-elect") {
		if _, statErr := os.Stat(filepath.Join(repoRoot, "internal", "controllercmd")); os.IsNotExist(statErr) {
			t.Skip("this tree has no `gitover controller` yet")
		}
		require.NoError(t, err, "gitover controller --help: %s", help)
	}
	var d appsv1.Deployment
	objs := install(t)
	require.NoError(t, yaml.UnmarshalStrict(objs["Deployment/gitover-controller"].YAML, &d))
	c := d.Spec.Template.Spec.Containers[0]
	assert.Equal(t, "controller", c.Args[0])
	flag := regexp.MustCompile(`^--[a-z0-9-]+`)
	for _, a := range c.Args[1:] {
		name := flag.FindString(a)
		require.NotEmpty(t, name, a)
		assert.Contains(t, string(help), name+" ", "gitover controller has no %s", name)
	}
}
