package config

import (
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

const kubernetesDir = "kubernetes"

// variables returns the names of every variable Load reads.
func variables(t *testing.T) map[string]bool {
	t.Helper()
	read := map[string]bool{}
	if _, err := Load(func(k string) string { read[k] = true; return "" }); err != nil {
		t.Fatal(err)
	}
	if len(read) < 30 {
		t.Fatalf("Load read only %d variables: %v", len(read), read)
	}
	return read
}

type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Labels     []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors,omitempty"`
		IncludeTemplates bool              `json:"includeTemplates,omitempty"`
	} `json:"labels,omitempty"`
	Resources []string `json:"resources"`
	// ConfigMapGenerator makes ConfigMaps of files (the entry points file).
	ConfigMapGenerator []struct {
		Name  string   `json:"name"`
		Files []string `json:"files"`
	} `json:"configMapGenerator,omitempty"`
	Images []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
	} `json:"images,omitempty"`
}

type manifests struct {
	workloads  []workload
	services   []corev1.Service
	ingresses  []networkingv1.Ingress
	pdbs       []policyv1.PodDisruptionBudget
	secrets    map[string]map[string]bool // name → keys
	configMaps map[string]map[string]bool
	// configValues: ConfigMap name → key → value.
	configValues map[string]map[string]string
	// entryPointVars are the credential variables the entry points file
	// names (set by entryPointProblems): credentials, as the file says.
	entryPointVars map[string]bool
}

func newManifests() manifests {
	return manifests{secrets: map[string]map[string]bool{}, configMaps: map[string]map[string]bool{},
		configValues: map[string]map[string]string{}, entryPointVars: map[string]bool{}}
}

// workload is a Deployment or a StatefulSet: the pods of one role.
type workload struct {
	kind, name string
	selector   *metav1.LabelSelector
	pod        corev1.PodTemplateSpec
	// StatefulSet only: its claim templates and its governing Service.
	claims      []corev1.PersistentVolumeClaim
	serviceName string
}

func (w workload) String() string { return w.kind + " " + w.name }

// strict decodes YAML into v the way the API server does in strict mode:
// field names match case-sensitively, and an unknown or duplicate field is
// an error.
func strict(doc []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	errs, err := kjson.UnmarshalStrict(j, v)
	if err != nil {
		return err
	}
	return errors.Join(errs...)
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// decodeStrict decodes one manifest into the k8s.io/api type of its kind;
// an unknown field or kind is an error.
func decodeStrict(doc []byte, m *manifests) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 Deployment":
		var d appsv1.Deployment
		if err := strict(doc, &d); err != nil {
			return err
		}
		m.workloads = append(m.workloads, workload{kind: tm.Kind, name: d.Name, selector: d.Spec.Selector, pod: d.Spec.Template})
	case "apps/v1 StatefulSet":
		var s appsv1.StatefulSet
		if err := strict(doc, &s); err != nil {
			return err
		}
		m.workloads = append(m.workloads, workload{kind: tm.Kind, name: s.Name, selector: s.Spec.Selector, pod: s.Spec.Template,
			claims: s.Spec.VolumeClaimTemplates, serviceName: s.Spec.ServiceName})
	case "networking.k8s.io/v1 Ingress":
		var i networkingv1.Ingress
		if err := strict(doc, &i); err != nil {
			return err
		}
		m.ingresses = append(m.ingresses, i)
	case "v1 Service":
		var s corev1.Service
		if err := strict(doc, &s); err != nil {
			return err
		}
		m.services = append(m.services, s)
	case "policy/v1 PodDisruptionBudget":
		var p policyv1.PodDisruptionBudget
		if err := strict(doc, &p); err != nil {
			return err
		}
		m.pdbs = append(m.pdbs, p)
	case "v1 Secret":
		var s corev1.Secret
		if err := strict(doc, &s); err != nil {
			return err
		}
		keys := map[string]bool{}
		for k := range s.StringData {
			keys[k] = true
		}
		for k := range s.Data {
			keys[k] = true
		}
		m.secrets[s.Name] = keys
	case "v1 ConfigMap":
		var c corev1.ConfigMap
		if err := strict(doc, &c); err != nil {
			return err
		}
		keys := map[string]bool{}
		for k := range c.Data {
			keys[k] = true
		}
		m.configMaps[c.Name] = keys
		m.configValues[c.Name] = c.Data
	default:
		return &unknownKindError{tm.APIVersion, tm.Kind}
	}
	return nil
}

type unknownKindError struct{ apiVersion, kind string }

func (e *unknownKindError) Error() string { return "unexpected kind " + e.apiVersion + " " + e.kind }

func loadManifests(t *testing.T) manifests {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(kubernetesDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := strict(b, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Fatalf("kustomization.yaml: %s %s", k.APIVersion, k.Kind)
	}
	m := newManifests()
	generated := generateConfigMaps(t, k, &m)
	files, _ := filepath.Glob(filepath.Join(kubernetesDir, "*.yaml"))
	for _, f := range files {
		if name := filepath.Base(f); name != "kustomization.yaml" && !slices.Contains(k.Resources, name) && !generated[name] {
			t.Errorf("%s is not listed in kustomization.yaml", name)
		}
	}
	for _, res := range k.Resources {
		b, err := os.ReadFile(filepath.Join(kubernetesDir, res))
		if err != nil {
			t.Fatalf("kustomization resource: %v", err)
		}
		for i, doc := range docSeparator.Split(string(b), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			if err := decodeStrict([]byte(doc), &m); err != nil {
				t.Errorf("%s document %d: %v", res, i+1, err)
			}
		}
	}
	return m
}

// generateConfigMaps adds the ConfigMaps of the kustomization's
// configMapGenerator, each file a key named by its base name (or by
// key=file), and returns the files they take.
func generateConfigMaps(t *testing.T, k kustomization, m *manifests) map[string]bool {
	t.Helper()
	generated := map[string]bool{}
	for _, g := range k.ConfigMapGenerator {
		keys, values := map[string]bool{}, map[string]string{}
		for _, f := range g.Files {
			key, file, ok := strings.Cut(f, "=")
			if !ok {
				key, file = filepath.Base(f), f
			}
			b, err := os.ReadFile(filepath.Join(kubernetesDir, file))
			if err != nil {
				t.Errorf("configMapGenerator %s: %v", g.Name, err)
				continue
			}
			keys[key], values[key], generated[file] = true, string(b), true
		}
		m.configMaps[g.Name], m.configValues[g.Name] = keys, values
	}
	return generated
}

func stripComments(doc string) string {
	var out []string
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Unknown fields fail the decoding, so a typo in a manifest fails the test.
func TestKubernetesDecodingIsStrict(t *testing.T) {
	m := newManifests()
	for _, doc := range []string{
		"apiVersion: apps/v1\nkind: Deployment\nspec:\n  replica: 2\n",
		"apiVersion: v1\nkind: Service\nspec:\n  ports:\n    - prot: 80\n",
		"apiVersion: v1\nkind: Pod\n",
		"apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: 2\n  Replicas: 3\n",
		"apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: 2\n  replicas: 3\n",
		"apiVersion: apps/v1\nkind: StatefulSet\nspec:\n  volumeClaimTemplates:\n    - spec:\n        accesModes: [ReadWriteOnce]\n",
		"apiVersion: networking.k8s.io/v1\nkind: Ingress\nspec:\n  rules:\n    - http:\n        paths:\n          - path: /v1\n            backend:\n              serviceName: gateway-core\n",
		"apiVersion: extensions/v1beta1\nkind: Ingress\n",
	} {
		if err := decodeStrict([]byte(doc), &m); err == nil {
			t.Errorf("accepted:\n%s", doc)
		}
	}
}

// The kustomize base runs the three roles against external Kafka and
// PostgreSQL: probes, requests, non-root, a Service and a disruption budget
// per role, credentials from the Secret, and only variables the gateway
// reads.
func TestKubernetesManifests(t *testing.T) {
	m := loadManifests(t)
	vars, problems := entryPointProblems(t, m, variables(t))
	for _, p := range problems {
		t.Error(p)
	}
	checkKeys(t, m, vars)

	roles := map[string]bool{}
	for _, w := range m.workloads {
		env := checkWorkload(t, m, vars, w)
		role := env["GATEWAY_ROLES"].Value
		switch role {
		case RoleIngest, RoleCore, RoleOutbox:
			if roles[role] {
				t.Errorf("two workloads run role %s", role)
			}
			roles[role] = true
		default:
			t.Errorf("%s: GATEWAY_ROLES %q, want one of ingest, core, outbox", w, role)
		}
		if _, ok := env["KAFKA_BROKERS"]; !ok {
			t.Errorf("%s: no KAFKA_BROKERS (an embedded broker per pod)", w)
		}
		if role == RoleCore || role == RoleOutbox {
			db, ok := env["DATABASE_URL"]
			if !ok || db.ValueFrom == nil || db.ValueFrom.SecretKeyRef == nil || (db.ValueFrom.SecretKeyRef.Optional != nil && *db.ValueFrom.SecretKeyRef.Optional) {
				t.Errorf("%s: DATABASE_URL must come from the Secret, not optional (else SQLite in the pod)", w)
			}
		}
		if role == RoleIngest {
			checkSpoolVolume(t, w, env)
		}
		checkServices(t, m, w)
	}
	for _, r := range []string{RoleIngest, RoleCore, RoleOutbox} {
		if !roles[r] {
			t.Errorf("no workload runs role %s", r)
		}
	}
}

// checkKeys: the ConfigMaps the pods take as variables and the Secret hold
// only variables the gateway reads, each in its place; a ConfigMap is
// taken as variables or mounted as files (the entry points file).
func checkKeys(t *testing.T, m manifests, vars map[string]bool) {
	t.Helper()
	for name, keys := range m.configMaps {
		asEnv, asFiles := configMapUse(m, name)
		if !asEnv && !asFiles {
			t.Errorf("ConfigMap %s: no pod takes it", name)
		}
		if !asEnv {
			continue
		}
		for k := range keys {
			if !vars[k] {
				t.Errorf("ConfigMap %s: %s is not a variable the gateway reads", name, k)
			}
			if IsSecret(k) {
				t.Errorf("ConfigMap %s holds the secret %s", name, k)
			}
		}
	}
	for name, keys := range m.secrets {
		for k := range keys {
			if !vars[k] {
				t.Errorf("Secret %s: %s is not a variable the gateway reads", name, k)
			}
			if !IsSecret(k) && !m.entryPointVars[k] && !strings.HasSuffix(k, "_ACCOUNT_SID") && !strings.HasSuffix(k, "_USER") && !strings.HasSuffix(k, "_PUBLIC_KEY") {
				t.Errorf("Secret %s: %s is not a credential; put it in the ConfigMap", name, k)
			}
		}
	}
}

// podEnv is the environment of a workload's container: its env, and every
// key of the ConfigMaps and Secrets it takes whole.
func podEnv(t *testing.T, m manifests, w workload, c corev1.Container) map[string]corev1.EnvVar {
	t.Helper()
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			keys, ok := m.configMaps[from.ConfigMapRef.Name]
			if !ok {
				t.Errorf("%s: envFrom ConfigMap %s is not in the base", w, from.ConfigMapRef.Name)
			}
			for k := range keys {
				env[k] = corev1.EnvVar{Name: k, Value: m.configValues[from.ConfigMapRef.Name][k]}
			}
		case from.SecretRef != nil:
			keys, ok := m.secrets[from.SecretRef.Name]
			if !ok {
				t.Errorf("%s: envFrom Secret %s is not in the base", w, from.SecretRef.Name)
			}
			for k := range keys {
				env[k] = corev1.EnvVar{Name: k, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: from.SecretRef.Name}, Key: k}}}
			}
		}
	}
	return env
}

// checkWorkload checks the pod of one role and returns its environment.
func checkWorkload(t *testing.T, m manifests, vars map[string]bool, w workload) map[string]corev1.EnvVar {
	t.Helper()
	pod := w.pod
	sel, err := metav1.LabelSelectorAsSelector(w.selector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
		t.Errorf("%s: selector %v does not match its pod labels %v", w, w.selector, pod.Labels)
	}
	if pod.Spec.SecurityContext == nil || pod.Spec.SecurityContext.RunAsNonRoot == nil || !*pod.Spec.SecurityContext.RunAsNonRoot {
		t.Errorf("%s: the pod does not require a non-root user", w)
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%s: %d containers", w, len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	env := podEnv(t, m, w, c)
	for name, e := range env {
		if !vars[name] {
			t.Errorf("%s: %s is not a variable the gateway reads", w, name)
		}
		if IsSecret(name) && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			t.Errorf("%s: %s does not come from a Secret", w, name)
		}
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			ref := e.ValueFrom.SecretKeyRef
			if keys, ok := m.secrets[ref.Name]; !ok || !keys[ref.Key] {
				t.Errorf("%s: %s refers to %s/%s, which the base's Secret does not have", w, name, ref.Name, ref.Key)
			}
		}
	}
	ports := map[string]bool{}
	for _, p := range c.Ports {
		ports[p.Name] = true
	}
	for _, pr := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"readiness", c.ReadinessProbe, "/readyz"}, {"liveness", c.LivenessProbe, "/healthz"}} {
		if pr.probe == nil || pr.probe.HTTPGet == nil || pr.probe.HTTPGet.Path != pr.path {
			t.Errorf("%s: %s probe is not GET %s", w, pr.name, pr.path)
			continue
		}
		if port := pr.probe.HTTPGet.Port; !ports[port.String()] && port.IntValue() != 8080 {
			t.Errorf("%s: %s probe port %s is not a container port", w, pr.name, port.String())
		}
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
		t.Errorf("%s: no CPU and memory requests", w)
	}
	if sc := c.SecurityContext; sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("%s: the container may escalate privileges or write its root filesystem", w)
	}
	return env
}

// checkServices: one Service (not headless) and one disruption budget
// select each workload's pods; a StatefulSet's serviceName is a headless
// Service that selects them too.
func checkServices(t *testing.T, m manifests, w workload) {
	t.Helper()
	var svc, pdb int
	for _, s := range m.services {
		if len(s.Spec.Selector) == 0 || !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(w.pod.Labels)) {
			if s.Name == w.serviceName {
				t.Errorf("%s: its Service %s does not select its pods", w, s.Name)
			}
			continue
		}
		headless := s.Spec.ClusterIP == corev1.ClusterIPNone
		switch {
		case s.Name == w.serviceName && !headless:
			t.Errorf("%s: its serviceName %s is not a headless Service (clusterIP: None)", w, s.Name)
		case !headless:
			svc++
		case s.Name != w.serviceName:
			t.Errorf("%s: headless Service %s selects its pods but is not its serviceName", w, s.Name)
		}
	}
	if w.kind == "StatefulSet" && !slices.ContainsFunc(m.services, func(s corev1.Service) bool { return s.Name == w.serviceName }) {
		t.Errorf("%s: serviceName %q is not a Service of the base", w, w.serviceName)
	}
	for _, p := range m.pdbs {
		if sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector); err == nil && !sel.Empty() && sel.Matches(labels.Set(w.pod.Labels)) {
			pdb++
		}
	}
	if svc != 1 || pdb != 1 {
		t.Errorf("%s: %d Services and %d PodDisruptionBudgets select its pods, want 1 each", w, svc, pdb)
	}
}

// checkSpoolVolume: a role that spools webhooks Kafka could not take (2xx
// already answered) keeps GATEWAY_DATA_DIR/spool on a claim of its own
// that outlives the pod: a StatefulSet's volumeClaimTemplate, never an
// emptyDir (lost when the pod moves) nor a volume shared by every pod.
func checkSpoolVolume(t *testing.T, w workload, env map[string]corev1.EnvVar) {
	t.Helper()
	if strings.EqualFold(env["GATEWAY_SPOOL"].Value, "off") {
		return
	}
	dataDir := env["GATEWAY_DATA_DIR"].Value
	if !filepath.IsAbs(dataDir) {
		t.Errorf("%s: GATEWAY_DATA_DIR %q is not an absolute path on a volume", w, dataDir)
		return
	}
	spoolDir := filepath.Join(dataDir, "spool")
	var mount *corev1.VolumeMount
	for i, vm := range w.pod.Spec.Containers[0].VolumeMounts {
		if within(spoolDir, vm.MountPath) && (mount == nil || len(vm.MountPath) > len(mount.MountPath)) {
			mount = &w.pod.Spec.Containers[0].VolumeMounts[i]
		}
	}
	if mount == nil {
		t.Errorf("%s: no volume holds the spool %s", w, spoolDir)
		return
	}
	for _, v := range w.pod.Spec.Volumes {
		if v.Name == mount.Name {
			t.Errorf("%s: the spool %s is on the pod volume %s (%s), which is lost or shared; use a volumeClaimTemplate",
				w, spoolDir, v.Name, volumeKind(v))
			return
		}
	}
	if !slices.ContainsFunc(w.claims, func(c corev1.PersistentVolumeClaim) bool { return c.Name == mount.Name }) {
		t.Errorf("%s: the spool %s is on %s, which is not a volumeClaimTemplate of a StatefulSet", w, spoolDir, mount.Name)
	}
}

// within says whether path is dir or below it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

func volumeKind(v corev1.Volume) string {
	switch {
	case v.EmptyDir != nil:
		return "emptyDir"
	case v.PersistentVolumeClaim != nil:
		return "a claim every pod shares"
	default:
		return "not a claim of the pod's own"
	}
}

// opsPaths are served only on the ops port; no Ingress path may reach them.
var opsPaths = []string{"/metrics", "/readyz", "/healthz", "/debug/pprof/"}

// ingressPathMatches says whether an Ingress path of pathType typ matches
// the request path p (networking/v1: Prefix matches whole path elements).
func ingressPathMatches(typ networkingv1.PathType, path, p string) bool {
	if typ == networkingv1.PathTypeExact {
		return p == path
	}
	path = strings.TrimSuffix(path, "/")
	return path == "" || p == path || strings.HasPrefix(p, path+"/")
}

// The Ingress serves the host of GATEWAY_PUBLIC_URL (the URL providers call
// and sign) over TLS; each path goes to a Service of the base, on the
// port that reaches the container's GATEWAY_HTTP_ADDR, never to the ops
// port or an ops path. (Which role serves which path is checked against
// the gateway's own routes in cmd/gateway.)
func TestKubernetesIngress(t *testing.T) {
	m := loadManifests(t)
	if len(m.ingresses) != 1 {
		t.Fatalf("%d Ingresses, want 1", len(m.ingresses))
	}
	ing := m.ingresses[0]
	public, err := url.Parse(m.configValues["gateway-config"]["GATEWAY_PUBLIC_URL"])
	if err != nil || public.Hostname() == "" {
		t.Fatalf("GATEWAY_PUBLIC_URL of gateway-config: %q", m.configValues["gateway-config"]["GATEWAY_PUBLIC_URL"])
	}
	if !slices.ContainsFunc(ing.Spec.TLS, func(tls networkingv1.IngressTLS) bool { return slices.Contains(tls.Hosts, public.Hostname()) }) {
		t.Errorf("Ingress %s: no TLS for %s, the host of GATEWAY_PUBLIC_URL", ing.Name, public.Hostname())
	}
	if ing.Spec.DefaultBackend != nil {
		t.Errorf("Ingress %s: a default backend sends every other path (ops paths too) to %v", ing.Name, ing.Spec.DefaultBackend.Service)
	}
	paths := 0
	for _, rule := range ing.Spec.Rules {
		if rule.Host != public.Hostname() {
			t.Errorf("Ingress %s: host %q, want %q of GATEWAY_PUBLIC_URL (Twilio signs the URL it calls)", ing.Name, rule.Host, public.Hostname())
		}
		if rule.HTTP == nil {
			continue
		}
		for _, p := range rule.HTTP.Paths {
			paths++
			checkIngressPath(t, m, p)
		}
	}
	if paths == 0 {
		t.Errorf("Ingress %s routes no path", ing.Name)
	}
}

func checkIngressPath(t *testing.T, m manifests, p networkingv1.HTTPIngressPath) {
	t.Helper()
	if p.PathType == nil || (*p.PathType != networkingv1.PathTypePrefix && *p.PathType != networkingv1.PathTypeExact) {
		t.Errorf("Ingress path %s: pathType %v, want Prefix or Exact (ImplementationSpecific differs by controller)", p.Path, p.PathType)
		return
	}
	for _, ops := range opsPaths {
		if ingressPathMatches(*p.PathType, p.Path, ops) {
			t.Errorf("Ingress path %s reaches %s, which stays off the internet", p.Path, ops)
		}
	}
	b := p.Backend.Service
	if b == nil {
		t.Errorf("Ingress path %s: no Service backend", p.Path)
		return
	}
	i := slices.IndexFunc(m.services, func(s corev1.Service) bool { return s.Name == b.Name })
	if i < 0 {
		t.Errorf("Ingress path %s: Service %s is not in the base", p.Path, b.Name)
		return
	}
	svc := m.services[i]
	j := slices.IndexFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool {
		return (b.Port.Name != "" && sp.Name == b.Port.Name) || (b.Port.Number != 0 && sp.Port == b.Port.Number)
	})
	if j < 0 {
		t.Errorf("Ingress path %s: Service %s has no port %v", p.Path, b.Name, b.Port)
		return
	}
	target := svc.Spec.Ports[j].TargetPort
	for _, w := range m.workloads {
		if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(w.pod.Labels)) {
			continue
		}
		c := w.pod.Spec.Containers[0]
		_, httpPort, _ := net.SplitHostPort(podEnv(t, m, w, c)["GATEWAY_HTTP_ADDR"].Value)
		k := slices.IndexFunc(c.Ports, func(cp corev1.ContainerPort) bool {
			return cp.Name == target.String() || int(cp.ContainerPort) == target.IntValue()
		})
		if k < 0 || strconv.Itoa(int(c.Ports[k].ContainerPort)) != httpPort {
			t.Errorf("Ingress path %s: Service %s port %s does not reach GATEWAY_HTTP_ADDR (%s) of %s", p.Path, b.Name, target.String(), httpPort, w)
		}
	}
}

// Prefix paths match whole path elements, as networking/v1 says.
func TestIngressPathMatches(t *testing.T) {
	prefix, exact := networkingv1.PathTypePrefix, networkingv1.PathTypeExact
	for _, tc := range []struct {
		typ     networkingv1.PathType
		path, p string
		want    bool
	}{
		{prefix, "/v1", "/v1", true}, {prefix, "/v1", "/v1/conversations", true}, {prefix, "/v1/", "/v1/x", true},
		{prefix, "/v1", "/v10", false}, {prefix, "/", "/metrics", true}, {exact, "/chat/", "/chat/ws", false},
		{exact, "/chat/ws", "/chat/ws", true},
	} {
		if got := ingressPathMatches(tc.typ, tc.path, tc.p); got != tc.want {
			t.Errorf("%s %s matches %s: %v, want %v", tc.typ, tc.path, tc.p, got, tc.want)
		}
	}
}
