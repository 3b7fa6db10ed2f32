package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/gatehouse-dev/gatehouse/internal/listen"
	"github.com/gatehouse-dev/gatehouse/policy"
)

// kubeDir is the kustomize base, from this package's directory.
const kubeDir = "../../deploy/kubernetes"

// kustomization is the part of kustomize's Kustomization the base uses;
// decoded strictly, a field it does not know fails the test (and is
// added here once checked).
type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Labels     []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors"`
	} `json:"labels"`
	Images []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
	} `json:"images"`
	Resources []string `json:"resources"`
}

// kubeBase is every manifest of the base, decoded strictly into the
// Kubernetes API's own types.
type kubeBase struct {
	config     *corev1.ConfigMap
	deployment *appsv1.Deployment
	pdb        *policyv1.PodDisruptionBudget
	services   []*corev1.Service
}

// decodeStrict decodes one YAML manifest into v, refusing unknown and
// duplicate fields, and checks its apiVersion and kind.
func decodeStrict(t *testing.T, file, apiVersion, kind string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(kubeDir, file))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("\n---")) {
		t.Fatalf("%s: one manifest per file", file)
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(data, &head); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if head.APIVersion != apiVersion || head.Kind != kind {
		t.Fatalf("%s is %s %s, want %s %s", file, head.APIVersion, head.Kind, apiVersion, kind)
	}
	if err := yaml.UnmarshalStrict(data, v); err != nil {
		t.Fatalf("%s does not decode strictly into %T: %v", file, v, err)
	}
}

// loadKubeBase decodes every file of the base and checks that the
// kustomization lists exactly the manifests there are.
func loadKubeBase(t *testing.T) kubeBase {
	t.Helper()
	var k kustomization
	decodeStrict(t, "kustomization.yaml", "kustomize.config.k8s.io/v1beta1", "Kustomization", &k)
	files, err := filepath.Glob(filepath.Join(kubeDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var manifests []string
	for _, f := range files {
		if name := filepath.Base(f); name != "kustomization.yaml" {
			manifests = append(manifests, name)
		}
	}
	if got := slices.Sorted(slices.Values(k.Resources)); !slices.Equal(got, manifests) {
		t.Fatalf("kustomization resources %v, files %v", got, manifests)
	}
	var b kubeBase
	for _, f := range manifests {
		switch {
		case f == "configmap.yaml":
			b.config = &corev1.ConfigMap{}
			decodeStrict(t, f, "v1", "ConfigMap", b.config)
		case f == "deployment.yaml":
			b.deployment = &appsv1.Deployment{}
			decodeStrict(t, f, "apps/v1", "Deployment", b.deployment)
		case f == "poddisruptionbudget.yaml":
			b.pdb = &policyv1.PodDisruptionBudget{}
			decodeStrict(t, f, "policy/v1", "PodDisruptionBudget", b.pdb)
		case strings.HasPrefix(f, "service-"):
			svc := &corev1.Service{}
			decodeStrict(t, f, "v1", "Service", svc)
			b.services = append(b.services, svc)
		default:
			t.Fatalf("%s: a manifest this test does not know", f)
		}
	}
	if b.config == nil || b.deployment == nil || b.pdb == nil || len(b.services) != 3 {
		t.Fatalf("the base lacks a ConfigMap, Deployment, PodDisruptionBudget or its 3 Services")
	}
	return b
}

// TestKubernetesConfigPassesPolicyCheck: the ConfigMap's configuration
// passes `gatehouse policy check` (the same code), and its listeners off
// loopback have the TLS serve will demand.
func TestKubernetesConfigPassesPolicyCheck(t *testing.T) {
	b := loadKubeBase(t)
	text, ok := b.config.Data["gatehouse.yaml"]
	if !ok {
		t.Fatal("the ConfigMap has no gatehouse.yaml")
	}
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"policy", "check", path}, &out); err != nil {
		t.Fatalf("gatehouse policy check: %v\n%s", err, out.String())
	}
	cfg, err := policy.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []listen.HTTP{
		{Section: "ca", Addr: cfg.CA.Listen, TLS: cfg.CA.TLSCert != "" && cfg.CA.TLSKey != ""},
		{Section: "ops", Addr: cfg.Ops.Listen, TLS: cfg.Ops.TLS()},
	} {
		if err := h.Check(); err != nil {
			t.Error(err)
		}
	}
	// The pod's grace outlasts the drain (docs/operations.md): the drain,
	// the last upload (10s) and the API's requests (10s).
	grace := time.Duration(*b.deployment.Spec.Template.Spec.TerminationGracePeriodSeconds) * time.Second
	if min := cfg.SSH.DrainTimeout.D() + 20*time.Second; grace < min {
		t.Errorf("terminationGracePeriodSeconds %v is shorter than ssh.drain_timeout + 20s = %v", grace, min)
	}
	container := b.deployment.Spec.Template.Spec.Containers[0]
	// Two replicas must share their state (docs/kubernetes.md).
	if cfg.State.Store != "postgres" {
		t.Errorf("state.store is %q: the replicas would disagree about revocations and approvals; want postgres", cfg.State.Store)
	}
	for _, env := range []string{cfg.Recording.S3.AccessKeyEnv, cfg.Recording.S3.SecretKeyEnv, cfg.Targets["orders"].Roles["readonly"].Credentials.PasswordEnv, cfg.State.DSNEnv} {
		if !slices.ContainsFunc(container.Env, func(e corev1.EnvVar) bool {
			return e.Name == env && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil
		}) {
			t.Errorf("the configuration reads $%s, which the container does not take from a Secret", env)
		}
	}
}

// TestKubernetesDeployment: what docs/kubernetes.md promises of the base.
func TestKubernetesDeployment(t *testing.T) {
	b := loadKubeBase(t)
	d := b.deployment
	pod := d.Spec.Template
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas %v, want 2", d.Spec.Replicas)
	}
	selector := labels.SelectorFromSet(d.Spec.Selector.MatchLabels)
	if !selector.Matches(labels.Set(pod.Labels)) {
		t.Errorf("the Deployment's selector %v does not select its pods %v", selector, pod.Labels)
	}
	if sel := labels.SelectorFromSet(b.pdb.Spec.Selector.MatchLabels); !sel.Matches(labels.Set(pod.Labels)) {
		t.Errorf("the PodDisruptionBudget selects %v, not the pods", sel)
	}
	if b.pdb.Spec.MinAvailable == nil || b.pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("PodDisruptionBudget minAvailable %v, want 1", b.pdb.Spec.MinAvailable)
	}
	if len(pod.Spec.TopologySpreadConstraints) == 0 {
		t.Error("no topology spread constraints")
	}
	for _, tsc := range pod.Spec.TopologySpreadConstraints {
		if sel := labels.SelectorFromSet(tsc.LabelSelector.MatchLabels); !sel.Matches(labels.Set(pod.Labels)) {
			t.Errorf("topology spread over %s selects %v, not the pods", tsc.TopologyKey, sel)
		}
	}
	psc := pod.Spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("pod securityContext %+v: want runAsNonRoot and a non-zero runAsUser", psc)
	}
	for _, c := range append(slices.Clone(pod.Spec.InitContainers), pod.Spec.Containers...) {
		checkContainer(t, c, pod.Spec.Volumes)
	}
	checkProbes(t, pod.Spec.Containers[0])
	for _, svc := range b.services {
		checkService(t, svc, pod)
	}
	if svc := b.services[slices.IndexFunc(b.services, func(s *corev1.Service) bool { return s.Name == "gatehouse-ssh" })]; svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		t.Errorf("the SSH Service is %s, want LoadBalancer", svc.Spec.Type)
	}
}

// checkContainer: non-root, read-only root filesystem, no capabilities,
// resources, and only volumes the pod has.
func checkContainer(t *testing.T, c corev1.Container, volumes []corev1.Volume) {
	t.Helper()
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("container %s securityContext %+v: want a read-only root filesystem, no privilege escalation, capabilities drop [ALL]", c.Name, sc)
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("container %s resources %+v: want cpu and memory requests and a memory limit", c.Name, c.Resources)
	}
	for _, m := range c.VolumeMounts {
		if !slices.ContainsFunc(volumes, func(v corev1.Volume) bool { return v.Name == m.Name }) {
			t.Errorf("container %s mounts %s, which the pod does not have", c.Name, m.Name)
		}
	}
}

// checkProbes: readiness on /readyz, liveness on /healthz, both on the
// operations endpoint's port.
func checkProbes(t *testing.T, c corev1.Container) {
	t.Helper()
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"readiness", c.ReadinessProbe, "/readyz"}, {"liveness", c.LivenessProbe, "/healthz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port != intstr.FromString("ops") {
			t.Errorf("%s probe %+v: want GET %s on port ops", p.name, p.probe, p.path)
		}
	}
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "ops" && p.ContainerPort == 9100 }) {
		t.Errorf("container ports %v lack ops (9100)", c.Ports)
	}
}

// checkService: it selects the pods and targets a port they have.
func checkService(t *testing.T, svc *corev1.Service, pod corev1.PodTemplateSpec) {
	t.Helper()
	if sel := labels.SelectorFromSet(svc.Spec.Selector); len(svc.Spec.Selector) == 0 || !sel.Matches(labels.Set(pod.Labels)) {
		t.Errorf("Service %s selects %v, not the pods", svc.Name, svc.Spec.Selector)
	}
	for _, p := range svc.Spec.Ports {
		if !slices.ContainsFunc(pod.Spec.Containers[0].Ports, func(cp corev1.ContainerPort) bool { return cp.Name == p.TargetPort.String() }) {
			t.Errorf("Service %s targets port %s, which the container does not name", svc.Name, p.TargetPort.String())
		}
	}
}
