package kubeletsim

import (
	"fmt"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// DefaultImages are the image repositories whose containers the simulation
// runs with the gitover binary: the image the generated disk-protection
// hooks use by default (ghcr.io/gitover/gitover:<release>).
var DefaultImages = []string{"ghcr.io/gitover/gitover"}

// imageRepository strips the tag and digest from an image reference
// ("ghcr.io/gitover/gitover:v0.1.0@sha256:..." -> "ghcr.io/gitover/gitover").
func imageRepository(image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	if c := strings.LastIndexByte(image, ':'); c > strings.LastIndexByte(image, '/') {
		image = image[:c]
	}
	return image
}

// imageMatcher decides which containers run as gitover processes.
type imageMatcher []string

func newImageMatcher(images []string) imageMatcher {
	var m imageMatcher
	for _, i := range images {
		if i = strings.TrimSpace(i); i != "" {
			m = append(m, imageRepository(i))
		}
	}
	return m
}

// runs reports whether a container's image is one of gitover's.
func (m imageMatcher) runs(image string) bool {
	repo := imageRepository(image)
	for _, want := range m {
		if repo == want {
			return true
		}
	}
	return false
}

// commandLine is the argv of a gitover container: its command and args
// expanded with its environment ($(VAR)), with the gitover binary in place
// of the image's entrypoint. The image's entrypoint is gitover; a command
// is accepted when its executable is named gitover (e.g. /gitover or
// /usr/local/bin/gitover); anything else cannot run here.
func commandLine(bin string, c *corev1.Container, env []envVar) ([]string, error) {
	values := map[string]string{}
	for _, e := range env {
		values[e.Name] = e.Value
	}
	lookup := func(name string) (string, bool) {
		v, ok := values[name]
		return v, ok
	}
	argv := []string{bin}
	if len(c.Command) > 0 {
		if path.Base(c.Command[0]) != "gitover" {
			return nil, fmt.Errorf("command %q: the kubelet simulation runs only the gitover binary of the image (its entrypoint, or a command named gitover)", c.Command[0])
		}
		for _, a := range c.Command[1:] {
			argv = append(argv, expand(a, lookup))
		}
	}
	for _, a := range c.Args {
		argv = append(argv, expand(a, lookup))
	}
	return argv, nil
}
