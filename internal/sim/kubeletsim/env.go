package kubeletsim

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// envVar is one resolved environment variable, in the order the kubelet
// builds them (envFrom sources first, then env, later entries winning).
type envVar struct{ Name, Value string }

// envSources reads the ConfigMaps and Secrets that env and envFrom name.
type envSources interface {
	configMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
	secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
}

// apiSources reads them from the apiserver (as the kubelet does, with its
// own credentials rather than the Pod's).
type apiSources struct{ r client.Reader }

func (s apiSources) configMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error) {
	cm := &corev1.ConfigMap{}
	if err := s.r.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, cm); err != nil {
		return nil, err
	}
	return cm, nil
}

func (s apiSources) secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	sec := &corev1.Secret{}
	if err := s.r.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, sec); err != nil {
		return nil, err
	}
	return sec, nil
}

// podAddresses are the values of status.hostIP and status.podIP the
// simulation reports (the Pod may not carry them yet when it starts).
type podAddresses struct{ HostIP, PodIP string }

// envNameRE is what the kubelet accepts as a variable name from envFrom
// (C_IDENTIFIER-like; keys that do not match are skipped, as upstream does).
var envNameRE = regexp.MustCompile(`^[-._a-zA-Z][-._a-zA-Z0-9]*$`)

// resolveEnv builds a container's environment like the kubelet's
// makeEnvironmentVariables: envFrom sources in order (with their
// prefixes), then env entries, each value expanded with $(VAR) references
// to the variables defined before it. Unsupported references are errors:
// the caller reports CreateContainerConfigError.
func resolveEnv(ctx context.Context, src envSources, pod *corev1.Pod, c *corev1.Container, addr podAddresses) ([]envVar, error) {
	var out []envVar
	index := map[string]int{}
	set := func(name, value string) {
		if i, ok := index[name]; ok {
			out[i].Value = value
			return
		}
		index[name] = len(out)
		out = append(out, envVar{Name: name, Value: value})
	}
	lookup := func(name string) (string, bool) {
		if i, ok := index[name]; ok {
			return out[i].Value, true
		}
		return "", false
	}

	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, err := src.configMap(ctx, pod.Namespace, from.ConfigMapRef.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && optional(from.ConfigMapRef.Optional) {
					continue
				}
				return nil, fmt.Errorf("envFrom configMapRef %q: %w", from.ConfigMapRef.Name, err)
			}
			for _, k := range sortedKeys(cm.Data) {
				if name := from.Prefix + k; envNameRE.MatchString(name) {
					set(name, cm.Data[k])
				}
			}
		case from.SecretRef != nil:
			sec, err := src.secret(ctx, pod.Namespace, from.SecretRef.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && optional(from.SecretRef.Optional) {
					continue
				}
				return nil, fmt.Errorf("envFrom secretRef %q: %w", from.SecretRef.Name, err)
			}
			keys := make([]string, 0, len(sec.Data))
			for k := range sec.Data {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if name := from.Prefix + k; envNameRE.MatchString(name) {
					set(name, string(sec.Data[k]))
				}
			}
		default:
			return nil, fmt.Errorf("envFrom entry with neither configMapRef nor secretRef is not supported by the simulation")
		}
	}

	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expand(e.Value, lookup))
			continue
		}
		v, err := valueFrom(ctx, src, pod, e, addr)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if v == nil {
			continue // optional and missing: the kubelet leaves it unset
		}
		set(e.Name, *v)
	}
	return out, nil
}

// valueFrom resolves env[].valueFrom; nil means "optional and absent".
func valueFrom(ctx context.Context, src envSources, pod *corev1.Pod, e corev1.EnvVar, addr podAddresses) (*string, error) {
	vf := e.ValueFrom
	switch {
	case vf.FieldRef != nil:
		if v := vf.FieldRef.APIVersion; v != "" && v != "v1" {
			return nil, fmt.Errorf("fieldRef apiVersion %q is not supported (want v1)", v)
		}
		v, err := podField(pod, vf.FieldRef.FieldPath, addr)
		if err != nil {
			return nil, err
		}
		return &v, nil
	case vf.ConfigMapKeyRef != nil:
		ref := vf.ConfigMapKeyRef
		cm, err := src.configMap(ctx, pod.Namespace, ref.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && optional(ref.Optional) {
				return nil, nil
			}
			return nil, fmt.Errorf("configMapKeyRef %s/%s: %w", ref.Name, ref.Key, err)
		}
		if v, ok := cm.Data[ref.Key]; ok {
			return &v, nil
		}
		if b, ok := cm.BinaryData[ref.Key]; ok {
			v := string(b)
			return &v, nil
		}
		if optional(ref.Optional) {
			return nil, nil
		}
		return nil, fmt.Errorf("configMapKeyRef: key %q not found in ConfigMap %s", ref.Key, ref.Name)
	case vf.SecretKeyRef != nil:
		ref := vf.SecretKeyRef
		sec, err := src.secret(ctx, pod.Namespace, ref.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && optional(ref.Optional) {
				return nil, nil
			}
			return nil, fmt.Errorf("secretKeyRef %s/%s: %w", ref.Name, ref.Key, err)
		}
		if b, ok := sec.Data[ref.Key]; ok {
			v := string(b)
			return &v, nil
		}
		if optional(ref.Optional) {
			return nil, nil
		}
		return nil, fmt.Errorf("secretKeyRef: key %q not found in Secret %s", ref.Key, ref.Name)
	case vf.ResourceFieldRef != nil:
		return nil, fmt.Errorf("resourceFieldRef %q is not supported by the kubelet simulation", vf.ResourceFieldRef.Resource)
	default:
		return nil, fmt.Errorf("this valueFrom source is not supported by the kubelet simulation")
	}
}

func optional(p *bool) bool { return p != nil && *p }

// podField returns a downward-API field of the Pod, with the paths the
// kubelet supports for environment variables.
func podField(pod *corev1.Pod, path string, addr podAddresses) (string, error) {
	if key, ok := subscript(path, "metadata.labels"); ok {
		return pod.Labels[key], nil
	}
	if key, ok := subscript(path, "metadata.annotations"); ok {
		return pod.Annotations[key], nil
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP", "status.hostIPs":
		return addr.HostIP, nil
	case "status.podIP", "status.podIPs":
		return addr.PodIP, nil
	}
	return "", fmt.Errorf("fieldRef %q is not supported by the kubelet simulation", path)
}

// subscript parses `prefix['key']` (the downward API's map subscripts).
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"[")
	if !ok || !strings.HasSuffix(rest, "]") {
		return "", false
	}
	rest = strings.TrimSuffix(rest, "]")
	if len(rest) < 2 || (rest[0] != '\'' && rest[0] != '"') || rest[len(rest)-1] != rest[0] {
		return "", false
	}
	return rest[1 : len(rest)-1], true
}

// formatMap renders a map as the downward API does: key="value" lines,
// sorted by key, values quoted.
func formatMap(m map[string]string) string {
	var b strings.Builder
	for _, k := range sortedKeys(m) {
		fmt.Fprintf(&b, "%s=%s\n", k, strconv.Quote(m[k]))
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// expand replaces $(NAME) with the value lookup finds, as the kubelet
// expands env values, command and args: "$$" is an escaped "$", and a
// reference to an undefined variable (or an unterminated one) is kept
// as written.
func expand(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok && name != "" {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}
