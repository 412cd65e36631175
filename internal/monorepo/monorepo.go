// Package monorepo writes a realistic GitOps monorepo with many applications,
// each protected by its own DRPlan, for benchmarks and scale tests.
//
// The layout (N apps, names app-0000 … app-NNNN):
//
//	apps/app-NNNN/base/                 kustomization.yaml, vm.yaml (VirtualMachine
//	                                    with two dataVolumeTemplates), deployment.yaml, service.yaml
//	apps/app-NNNN/overlays/primary/     kustomization.yaml (+ web-patch.yaml)
//	apps/app-NNNN/overlays/secondary/   kustomization.yaml (+ web-patch.yaml)
//	hub/kustomization.yaml              every hub file
//	hub/clusterset.yaml                 ManagedClusterSet "dr" and its binding in argocd
//	hub/apps/app-NNNN.yaml              HubFilePerApp: the app's Placements and ApplicationSets
//	hub/placements-NNN.yaml,            otherwise: every Placement, resp. ApplicationSet,
//	hub/applicationsets-NNN.yaml        of AppsPerHubFile apps in one multi-document file
//	drplans/app-NNNN.yaml               the app's DRPlan (also returned by Write)
//
// Every repository is consistent with site dr1 (cluster-role=primary) active.
// Apps vary deterministically by index so that an engine sees every form:
// every third app (index%3 == 2) writes its selector as matchLabels instead of
// matchExpressions, and every OldStyleEvery-th app writes old-style overlays
// (bases:, patchesStrategicMerge:, commonLabels:). The output depends only on
// Options: two calls with the same Options write byte-identical trees.
package monorepo

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	sigsyaml "sigs.k8s.io/yaml"

	"github.com/gitover/gitover/api/v1alpha1"
)

// Topologies of seed 004 section 4.4/4.5.
const (
	// TopologySingle: one ApplicationSet per app whose Placement follows the
	// active site; a failover flips the value and swaps the overlay path.
	TopologySingle = "single"
	// TopologyDual: two ApplicationSets per app (primary and secondary
	// overlay), each with a Placement pinned to its site.
	TopologyDual = "dual"
)

// Names and values shared by every generated app and plan.
const (
	ArgoNamespace  = "argocd"
	ClusterSet     = "dr"
	LabelKey       = "cluster-role"
	InactiveValue  = "invalid"
	PrimarySite    = "dr1"
	SecondarySite  = "dr2"
	PrimaryValue   = "primary"
	SecondaryValue = "secondary"
	RepoURL        = "https://git.example.com/platform/apps.git"
	Branch         = "main"
	// PlansDir is the directory of Write's output that holds the DRPlans.
	PlansDir = "drplans"
	// DefaultAppsPerHubFile is used when Options.AppsPerHubFile is 0.
	DefaultAppsPerHubFile = 250
)

// Options says what to generate.
type Options struct {
	// Apps is the number of applications, at least 1.
	Apps int
	// Topology is TopologySingle or TopologyDual; empty means TopologyDual.
	Topology string
	// HubFilePerApp writes each app's Placements and ApplicationSets into one
	// file of its own (hub/apps/app-NNNN.yaml); otherwise all Placements and
	// all ApplicationSets go into a few big multi-document files.
	HubFilePerApp bool
	// AppsPerHubFile is how many apps share one big hub file when
	// HubFilePerApp is false; 0 means DefaultAppsPerHubFile.
	AppsPerHubFile int
	// OldStyleEvery makes every N-th app (index%N == N-1) use old-style
	// kustomizations; 0 means none.
	OldStyleEvery int
}

// AppName is the name of the app with index i.
func AppName(i int) string { return fmt.Sprintf("app-%04d", i) }

// Write generates the monorepo into dir, which must not exist or be empty, and
// returns one DRPlan per app, in app order, as decoded from the files it wrote
// under PlansDir. On error dir may hold a partial tree.
func Write(dir string, opt Options) ([]*v1alpha1.DRPlan, error) {
	if opt.Apps < 1 {
		return nil, fmt.Errorf("monorepo: Apps must be at least 1, got %d", opt.Apps)
	}
	if opt.Topology == "" {
		opt.Topology = TopologyDual
	}
	if opt.Topology != TopologySingle && opt.Topology != TopologyDual {
		return nil, fmt.Errorf("monorepo: unknown topology %q (want %q or %q)", opt.Topology, TopologySingle, TopologyDual)
	}
	if opt.AppsPerHubFile < 0 || opt.OldStyleEvery < 0 {
		return nil, errors.New("monorepo: AppsPerHubFile and OldStyleEvery must not be negative")
	}
	if opt.AppsPerHubFile == 0 {
		opt.AppsPerHubFile = DefaultAppsPerHubFile
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("monorepo: %s is not empty", dir)
	} else if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("monorepo: %w", err)
	}

	w := &writer{root: dir, made: map[string]bool{}}
	g := generator{opt: opt}
	plans := make([]*v1alpha1.DRPlan, 0, opt.Apps)
	var hubFiles []string
	var placements, appSets bytes.Buffer
	for i := 0; i < opt.Apps; i++ {
		a := g.app(i)
		w.file(a.dir("base", "kustomization.yaml"), a.baseKustomization())
		w.file(a.dir("base", "vm.yaml"), a.vm())
		w.file(a.dir("base", "deployment.yaml"), a.deployment())
		w.file(a.dir("base", "service.yaml"), a.service())
		for _, site := range []string{PrimaryValue, SecondaryValue} {
			w.file(a.dir("overlays", site, "kustomization.yaml"), a.overlayKustomization(site))
			w.file(a.dir("overlays", site, "web-patch.yaml"), a.webPatch(site))
		}

		if opt.HubFilePerApp {
			w.file(a.placementFile, a.hubPerApp())
			hubFiles = append(hubFiles, strings.TrimPrefix(a.placementFile, "hub/"))
		} else {
			if i%opt.AppsPerHubFile == 0 {
				placements.Reset()
				appSets.Reset()
				placements.WriteString("# Placements of apps " + a.name + " onwards (generated).\n")
				appSets.WriteString("# ApplicationSets of apps " + a.name + " onwards (generated).\n")
			}
			a.placementDocs(&placements)
			a.appSetDocs(&appSets)
			if i%opt.AppsPerHubFile == opt.AppsPerHubFile-1 || i == opt.Apps-1 {
				w.file(a.placementFile, placements.String())
				w.file(a.appSetFile, appSets.String())
				hubFiles = append(hubFiles,
					strings.TrimPrefix(a.placementFile, "hub/"), strings.TrimPrefix(a.appSetFile, "hub/"))
			}
		}

		planPath := PlansDir + "/" + a.name + ".yaml"
		text := a.plan()
		w.file(planPath, text)
		var p v1alpha1.DRPlan
		if err := sigsyaml.UnmarshalStrict([]byte(text), &p); err != nil {
			return nil, fmt.Errorf("monorepo: generated plan %s does not decode: %w", planPath, err)
		}
		plans = append(plans, &p)
	}
	w.file("hub/clusterset.yaml", clusterSetYAML)
	var k strings.Builder
	k.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- clusterset.yaml\n")
	for _, f := range hubFiles {
		k.WriteString("- " + f + "\n")
	}
	w.file("hub/kustomization.yaml", k.String())
	if w.err != nil {
		return nil, fmt.Errorf("monorepo: %w", w.err)
	}
	return plans, nil
}

// writer writes files under root, creating directories once, and keeps the
// first error.
type writer struct {
	root string
	made map[string]bool
	err  error
}

// file writes content to the slash-separated path rel under the root.
func (w *writer) file(rel, content string) {
	if w.err != nil {
		return
	}
	p := filepath.Join(w.root, filepath.FromSlash(rel))
	d := filepath.Dir(p)
	if !w.made[d] {
		if err := os.MkdirAll(d, 0o755); err != nil {
			w.err = err
			return
		}
		w.made[d] = true
	}
	w.err = os.WriteFile(p, []byte(content), 0o644)
}

// generator holds the options; app derives one application's variant.
type generator struct{ opt Options }

// app is one generated application.
type app struct {
	index       int
	name        string
	dual        bool
	matchLabels bool // selector written as matchLabels instead of matchExpressions
	oldStyle    bool // overlays with bases:/patchesStrategicMerge:/commonLabels:
	dataGi      int  // data disk size
	// placementFile and appSetFile are the hub files holding its objects.
	placementFile, appSetFile string
}

// app derives the variant of the app with index i from the options.
func (g generator) app(i int) app {
	a := app{
		index:       i,
		name:        AppName(i),
		dual:        g.opt.Topology == TopologyDual,
		matchLabels: i%3 == 2,
		oldStyle:    g.opt.OldStyleEvery > 0 && i%g.opt.OldStyleEvery == g.opt.OldStyleEvery-1,
		dataGi:      10 * (1 + i%4),
	}
	if g.opt.HubFilePerApp {
		a.placementFile = "hub/apps/" + a.name + ".yaml"
		a.appSetFile = a.placementFile
	} else {
		chunk := i / g.opt.AppsPerHubFile
		a.placementFile = fmt.Sprintf("hub/placements-%03d.yaml", chunk)
		a.appSetFile = fmt.Sprintf("hub/applicationsets-%03d.yaml", chunk)
	}
	return a
}

// dir is the repository path of a file of this app.
func (a app) dir(parts ...string) string {
	return "apps/" + a.name + "/" + strings.Join(parts, "/")
}

// overlayPath is the repository path of the app's overlay for a site value.
func (a app) overlayPath(site string) string { return "apps/" + a.name + "/overlays/" + site }

// baseKustomization lists the base manifests and labels them with the app.
func (a app) baseKustomization() string {
	return fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- vm.yaml
- deployment.yaml
- service.yaml
labels:
- pairs:
    app.kubernetes.io/part-of: %[1]s
`, a.name)
}

// vm is the app's database VirtualMachine with a root and a data disk template.
func (a app) vm() string {
	return fmt.Sprintf(`apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: %[1]s-db
  labels:
    app.kubernetes.io/name: %[1]s-db
spec:
  runStrategy: Always
  dataVolumeTemplates:
  - apiVersion: cdi.kubevirt.io/v1beta1
    kind: DataVolume
    metadata:
      name: %[1]s-db-root
    spec:
      source:
        registry:
          url: docker://quay.io/containerdisks/fedora:40
      storage:
        resources:
          requests:
            storage: 10Gi
  - apiVersion: cdi.kubevirt.io/v1beta1
    kind: DataVolume
    metadata:
      name: %[1]s-db-data
    spec:
      source:
        blank: {}
      storage:
        accessModes:
        - ReadWriteOnce
        resources:
          requests:
            storage: %[2]dGi
  template:
    metadata:
      labels:
        app.kubernetes.io/name: %[1]s-db
        kubevirt.io/domain: %[1]s-db
    spec:
      domain:
        cpu:
          cores: 1
        memory:
          guest: 2Gi
        devices:
          disks:
          - name: root
            disk:
              bus: virtio
          - name: data
            disk:
              bus: virtio
          - name: cloudinit
            disk:
              bus: virtio
          interfaces:
          - name: default
            masquerade: {}
      networks:
      - name: default
        pod: {}
      volumes:
      - name: root
        dataVolume:
          name: %[1]s-db-root
      - name: data
        dataVolume:
          name: %[1]s-db-data
      - name: cloudinit
        cloudInitNoCloud:
          userData: |
            #cloud-config
            hostname: %[1]s-db
            packages:
            - postgresql-server
            runcmd:
            - postgresql-setup --initdb
            - systemctl enable --now postgresql
`, a.name, a.dataGi)
}

// deployment is the app's web front end.
func (a app) deployment() string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s-web
  labels:
    app.kubernetes.io/name: %[1]s-web
spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: %[1]s-web
  template:
    metadata:
      labels:
        app.kubernetes.io/name: %[1]s-web
    spec:
      containers:
      - name: web
        image: docker.io/library/nginx:1.27-alpine
        env:
        - name: DATABASE_HOST
          value: %[1]s-db
        - name: SITE
          value: unset
        ports:
        - name: http
          containerPort: 8080
        resources:
          requests:
            cpu: 50m
            memory: 64Mi
`, a.name)
}

// service exposes the web front end.
func (a app) service() string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %[1]s-web
spec:
  selector:
    app.kubernetes.io/name: %[1]s-web
  ports:
  - name: http
    port: 80
    targetPort: http
`, a.name)
}

// overlayKustomization is a site overlay, old style for every OldStyleEvery-th app.
func (a app) overlayKustomization(site string) string {
	if a.oldStyle {
		return fmt.Sprintf(`namespace: %[1]s
bases:
- ../../base
patchesStrategicMerge:
- web-patch.yaml
commonLabels:
  example.com/site: %[2]s
`, a.name, site)
	}
	return fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: %[1]s
resources:
- ../../base
patches:
- path: web-patch.yaml
labels:
- pairs:
    example.com/site: %[2]s
`, a.name, site)
}

// webPatch tells the web front end which site it runs on.
func (a app) webPatch(site string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s-web
spec:
  template:
    spec:
      containers:
      - name: web
        env:
        - name: SITE
          value: %[2]s
`, a.name, site)
}

// placementSpec is one Placement this app needs.
type placementSpec struct {
	name, value, site string
}

// placementsFor lists the app's Placements in their dr1-active state.
func (a app) placementsFor() []placementSpec {
	if !a.dual {
		return []placementSpec{{a.name + "-placement", PrimaryValue, ""}}
	}
	return []placementSpec{
		{a.name + "-placement", PrimaryValue, PrimarySite},
		{a.name + "-secondary-placement", InactiveValue, SecondarySite},
	}
}

// appSetSpec is one ApplicationSet this app needs.
type appSetSpec struct {
	name, placement, path string
}

// appSetsFor lists the app's ApplicationSets and the overlay each deploys.
func (a app) appSetsFor() []appSetSpec {
	if !a.dual {
		return []appSetSpec{{a.name, a.name + "-placement", a.overlayPath(PrimaryValue)}}
	}
	return []appSetSpec{
		{a.name, a.name + "-placement", a.overlayPath(PrimaryValue)},
		{a.name + "-secondary", a.name + "-secondary-placement", a.overlayPath(SecondaryValue)},
	}
}

// placementDocs appends the app's Placements, each starting with "---".
func (a app) placementDocs(b *bytes.Buffer) {
	for _, p := range a.placementsFor() {
		fmt.Fprintf(b, `---
apiVersion: cluster.open-cluster-management.io/v1beta1
kind: Placement
metadata:
  name: %s
  namespace: %s
spec:
  clusterSets:
  - %s
  predicates:
  - requiredClusterSelector:
      labelSelector:
`, p.name, ArgoNamespace, ClusterSet)
		if a.matchLabels {
			fmt.Fprintf(b, "        matchLabels:\n          %s: %s\n", LabelKey, p.value)
		} else {
			fmt.Fprintf(b, "        matchExpressions:\n        - key: %s\n          operator: In\n          values:\n          - %s\n", LabelKey, p.value)
		}
	}
}

// appSetDocs appends the app's ApplicationSets, each starting with "---".
func (a app) appSetDocs(b *bytes.Buffer) {
	for _, s := range a.appSetsFor() {
		fmt.Fprintf(b, `---
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: %[1]s
  namespace: %[2]s
spec:
  generators:
  - clusterDecisionResource:
      configMapRef: acm-placement
      labelSelector:
        matchLabels:
          cluster.open-cluster-management.io/placement: %[3]s
      requeueAfterSeconds: 180
  template:
    metadata:
      name: '%[1]s-{{name}}'
    spec:
      project: default
      source:
        repoURL: %[4]s
        targetRevision: %[5]s
        path: %[6]s
      destination:
        server: '{{server}}'
        namespace: %[7]s
      syncPolicy:
        automated:
          prune: true
          selfHeal: true
        syncOptions:
        - CreateNamespace=true
`, s.name, ArgoNamespace, s.placement, RepoURL, Branch, s.path, a.name)
	}
}

// hubPerApp is the app's own hub file: its Placements, then its ApplicationSets.
func (a app) hubPerApp() string {
	var b bytes.Buffer
	b.WriteString("# Hub objects of " + a.name + " (generated).\n")
	a.placementDocs(&b)
	a.appSetDocs(&b)
	return b.String()
}

// plan is the app's DRPlan.
func (a app) plan() string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: gitover.io/v1alpha1
kind: DRPlan
metadata:
  name: %[1]s
  namespace: %[2]s
spec:
  clusters:
    labelKey: %[3]s
    inactiveValue: %[4]s
    sites:
    - name: %[5]s
      labelValue: %[6]s
    - name: %[7]s
      labelValue: %[8]s
  placements:
`, a.name, ArgoNamespace, LabelKey, InactiveValue, PrimarySite, PrimaryValue, SecondarySite, SecondaryValue)
	for _, p := range a.placementsFor() {
		fmt.Fprintf(&b, "  - file: %s\n    name: %s\n", a.placementFile, p.name)
		if p.site != "" {
			fmt.Fprintf(&b, "    site: %s\n", p.site)
		}
	}
	b.WriteString("  applicationSets:\n")
	for _, s := range a.appSetsFor() {
		fmt.Fprintf(&b, "  - file: %s\n    name: %s\n", a.appSetFile, s.name)
		if !a.dual {
			fmt.Fprintf(&b, "    overlays:\n      %s: %s\n      %s: %s\n",
				PrimarySite, a.overlayPath(PrimaryValue), SecondarySite, a.overlayPath(SecondaryValue))
		}
	}
	fmt.Fprintf(&b, `  diskProtection:
    enabled: true
  git:
    url: %[1]s
    branch: %[2]s
  argoCD:
    namespace: %[3]s
`, RepoURL, Branch, ArgoNamespace)
	return b.String()
}

const clusterSetYAML = `apiVersion: cluster.open-cluster-management.io/v1beta2
kind: ManagedClusterSet
metadata:
  name: dr
spec:
  clusterSelector:
    selectorType: ExclusiveClusterSetLabel
---
apiVersion: cluster.open-cluster-management.io/v1beta2
kind: ManagedClusterSetBinding
metadata:
  name: dr
  namespace: argocd
spec:
  clusterSet: dr
`
