package config

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
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
	Images    []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
	} `json:"images,omitempty"`
}

type manifests struct {
	deployments []appsv1.Deployment
	services    []corev1.Service
	pdbs        []policyv1.PodDisruptionBudget
	secrets     map[string]map[string]bool // name → keys
	configMaps  map[string]map[string]bool
}

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
		m.deployments = append(m.deployments, d)
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
	files, _ := filepath.Glob(filepath.Join(kubernetesDir, "*.yaml"))
	for _, f := range files {
		if name := filepath.Base(f); name != "kustomization.yaml" && !slices.Contains(k.Resources, name) {
			t.Errorf("%s is not listed in kustomization.yaml", name)
		}
	}
	m := manifests{secrets: map[string]map[string]bool{}, configMaps: map[string]map[string]bool{}}
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
	m := manifests{secrets: map[string]map[string]bool{}, configMaps: map[string]map[string]bool{}}
	for _, doc := range []string{
		"apiVersion: apps/v1\nkind: Deployment\nspec:\n  replica: 2\n",
		"apiVersion: v1\nkind: Service\nspec:\n  ports:\n    - prot: 80\n",
		"apiVersion: v1\nkind: Pod\n",
		"apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: 2\n  Replicas: 3\n",
		"apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: 2\n  replicas: 3\n",
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
	vars := variables(t)
	m := loadManifests(t)

	for name, keys := range m.configMaps {
		for k := range keys {
			if !vars[k] {
				t.Errorf("ConfigMap %s: %s is not a variable the gateway reads", name, k)
			}
		}
	}
	for name, keys := range m.secrets {
		for k := range keys {
			if !vars[k] {
				t.Errorf("Secret %s: %s is not a variable the gateway reads", name, k)
			}
			if !IsSecret(k) && !strings.HasSuffix(k, "_ACCOUNT_SID") && !strings.HasSuffix(k, "_USER") && !strings.HasSuffix(k, "_PUBLIC_KEY") {
				t.Errorf("Secret %s: %s is not a credential; put it in the ConfigMap", name, k)
			}
		}
	}
	for name, keys := range m.configMaps {
		for k := range keys {
			if IsSecret(k) {
				t.Errorf("ConfigMap %s holds the secret %s", name, k)
			}
		}
	}

	roles := map[string]bool{}
	for _, d := range m.deployments {
		pod := d.Spec.Template
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
			t.Errorf("Deployment %s: selector %v does not match its pod labels %v", d.Name, d.Spec.Selector, pod.Labels)
		}
		if pod.Spec.SecurityContext == nil || pod.Spec.SecurityContext.RunAsNonRoot == nil || !*pod.Spec.SecurityContext.RunAsNonRoot {
			t.Errorf("Deployment %s: the pod does not require a non-root user", d.Name)
		}
		if len(pod.Spec.Containers) != 1 {
			t.Fatalf("Deployment %s: %d containers", d.Name, len(pod.Spec.Containers))
		}
		c := pod.Spec.Containers[0]
		env := map[string]corev1.EnvVar{}
		for _, e := range c.Env {
			env[e.Name] = e
		}
		for _, from := range c.EnvFrom {
			switch {
			case from.ConfigMapRef != nil:
				keys, ok := m.configMaps[from.ConfigMapRef.Name]
				if !ok {
					t.Errorf("Deployment %s: envFrom ConfigMap %s is not in the base", d.Name, from.ConfigMapRef.Name)
				}
				for k := range keys {
					env[k] = corev1.EnvVar{Name: k}
				}
			case from.SecretRef != nil:
				keys, ok := m.secrets[from.SecretRef.Name]
				if !ok {
					t.Errorf("Deployment %s: envFrom Secret %s is not in the base", d.Name, from.SecretRef.Name)
				}
				for k := range keys {
					env[k] = corev1.EnvVar{Name: k, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
						LocalObjectReference: corev1.LocalObjectReference{Name: from.SecretRef.Name}, Key: k}}}
				}
			}
		}
		for name, e := range env {
			if !vars[name] {
				t.Errorf("Deployment %s: %s is not a variable the gateway reads", d.Name, name)
			}
			if IsSecret(name) && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
				t.Errorf("Deployment %s: %s does not come from a Secret", d.Name, name)
			}
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				ref := e.ValueFrom.SecretKeyRef
				if keys, ok := m.secrets[ref.Name]; !ok || !keys[ref.Key] {
					t.Errorf("Deployment %s: %s refers to %s/%s, which the base's Secret does not have", d.Name, name, ref.Name, ref.Key)
				}
			}
		}
		role := env["GATEWAY_ROLES"].Value
		switch role {
		case RoleIngest, RoleCore, RoleOutbox:
			if roles[role] {
				t.Errorf("two Deployments run role %s", role)
			}
			roles[role] = true
		default:
			t.Errorf("Deployment %s: GATEWAY_ROLES %q, want one of ingest, core, outbox", d.Name, role)
		}
		if _, ok := env["KAFKA_BROKERS"]; !ok {
			t.Errorf("Deployment %s: no KAFKA_BROKERS (an embedded broker per pod)", d.Name)
		}
		if role == RoleCore || role == RoleOutbox {
			db, ok := env["DATABASE_URL"]
			if !ok || db.ValueFrom == nil || db.ValueFrom.SecretKeyRef == nil || (db.ValueFrom.SecretKeyRef.Optional != nil && *db.ValueFrom.SecretKeyRef.Optional) {
				t.Errorf("Deployment %s: DATABASE_URL must come from the Secret, not optional (else SQLite in the pod)", d.Name)
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
				t.Errorf("Deployment %s: %s probe is not GET %s", d.Name, pr.name, pr.path)
				continue
			}
			if port := pr.probe.HTTPGet.Port; !ports[port.String()] && port.IntValue() != 8080 {
				t.Errorf("Deployment %s: %s probe port %s is not a container port", d.Name, pr.name, port.String())
			}
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
			t.Errorf("Deployment %s: no CPU and memory requests", d.Name)
		}
		if sc := c.SecurityContext; sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("Deployment %s: the container may escalate privileges or write its root filesystem", d.Name)
		}

		var svc, pdb int
		for _, s := range m.services {
			if len(s.Spec.Selector) > 0 && labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(pod.Labels)) {
				svc++
			}
		}
		for _, p := range m.pdbs {
			if sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector); err == nil && !sel.Empty() && sel.Matches(labels.Set(pod.Labels)) {
				pdb++
			}
		}
		if svc != 1 || pdb != 1 {
			t.Errorf("Deployment %s: %d Services and %d PodDisruptionBudgets select its pods, want 1 each", d.Name, svc, pdb)
		}
	}
	for _, r := range []string{RoleIngest, RoleCore, RoleOutbox} {
		if !roles[r] {
			t.Errorf("no Deployment runs role %s", r)
		}
	}
}
