package overlays

import (
	"bytes"
	"io/fs"
	"path"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// protectionPath is where an overlay's generated file lives: beside the
// kustomization (or in a plain directory), or in a Helm chart's templates.
func protectionPath(w *workspace, dir string) string {
	if sourceKind(w.tree, dir) == sourceHelm {
		return path.Join(dir, "templates", protectionFileName)
	}
	return path.Join(dir, protectionFileName)
}

// isProtected reports whether dir already carries exactly want and lists it.
func isProtected(w *workspace, dir string, want []byte) bool {
	got, err := fs.ReadFile(w.tree, protectionPath(w, dir))
	if err != nil || !bytes.Equal(got, want) {
		return false
	}
	kf := kustomizationFile(w.tree, dir)
	if kf == "" {
		return true
	}
	f, err := w.file(kf)
	if err != nil || len(f.docs) == 0 || len(f.docs[0].Content) == 0 {
		return false
	}
	return listsResource(f.docs[0].Content[0], protectionFileName)
}

// protect makes dir carry the generated file want, listed in its
// kustomization when it has one. It records the edits for plan.
func protect(w *workspace, plan, dir string, want []byte) error {
	if !w.isDir(dir) {
		return fileErr(ErrMissing, dir, 0, "", "overlay directory does not exist in the repository")
	}
	p := protectionPath(w, dir)
	current, err := fs.ReadFile(w.tree, p)
	if prev, ok := w.raw[p]; ok {
		current, err = prev, nil
	}
	if err != nil || !bytes.Equal(current, want) {
		old := "(absent)"
		if err == nil {
			old = "(outdated)"
		}
		if _, ok := w.raw[p]; !ok {
			w.edit(Edit{Plan: plan, Kind: EditProtectionFile, File: p, Object: "disk protection", Field: "(file)", Old: old, New: "(generated)"})
		}
		w.raw[p] = want
	}
	kf := kustomizationFile(w.tree, dir)
	if kf == "" {
		return nil
	}
	f, err := w.file(kf)
	if err != nil {
		return err
	}
	if len(f.docs) != 1 || len(f.docs[0].Content) == 0 || f.docs[0].Content[0].Kind != yaml.MappingNode {
		return fileErr(ErrMalformed, kf, 0, "", "a kustomization must be one YAML mapping")
	}
	root := f.docs[0].Content[0]
	if listsResource(root, protectionFileName) {
		return nil
	}
	field := yaml.NewRNode(root).Field("resources")
	switch {
	case field == nil:
		err = f.addListKey(root, "resources", protectionFileName)
	case field.Value.YNode().Kind == yaml.SequenceNode && (len(field.Value.YNode().Content) > 0 || field.Value.YNode().Style&yaml.FlowStyle != 0):
		err = f.appendScalar(field.Value.YNode(), protectionFileName)
	default:
		return fileErr(ErrUnsupported, kf, field.Value.YNode().Line, "Kustomization", "resources is not a list gitover can append to; write it as a list")
	}
	if err != nil {
		return err
	}
	w.edit(Edit{Plan: plan, Kind: EditKustomization, File: kf, Object: "Kustomization", Field: "resources", Old: "", New: protectionFileName})
	return nil
}

// listsResource reports whether a kustomization lists name in resources.
func listsResource(root *yaml.Node, name string) bool {
	field := yaml.NewRNode(root).Field("resources")
	if field == nil || field.Value.YNode().Kind != yaml.SequenceNode {
		return false
	}
	for _, e := range field.Value.YNode().Content {
		if path.Clean(e.Value) == name {
			return true
		}
	}
	return false
}
