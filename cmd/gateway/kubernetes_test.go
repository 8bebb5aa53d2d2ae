package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/opengateway/gateway/config"
	"github.com/opengateway/gateway/core/sqlstore"
)

// kubeBase is the shipped kustomize base; config's tests decode it
// strictly, this one reads what routes where.
const kubeBase = "../../config/kubernetes"

// kubeWorkload is the pod template of one role in the base.
type kubeWorkload struct {
	kind, role string
	pod        corev1.PodTemplateSpec
	claims     []corev1.PersistentVolumeClaim
}

type kubeBaseObjects struct {
	workloads []kubeWorkload
	services  []corev1.Service
	ingresses []networkingv1.Ingress
}

func readKubeBase(t *testing.T) kubeBaseObjects {
	t.Helper()
	var k struct {
		Resources []string `json:"resources"`
	}
	b, err := os.ReadFile(filepath.Join(kubeBase, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	var out kubeBaseObjects
	for _, res := range k.Resources {
		b, err := os.ReadFile(filepath.Join(kubeBase, res))
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
			if err := out.add([]byte(doc)); err != nil {
				t.Fatalf("%s: %v", res, err)
			}
		}
	}
	return out
}

func (o *kubeBaseObjects) add(doc []byte) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	switch tm.Kind {
	case "Deployment":
		var d appsv1.Deployment
		if err := yaml.Unmarshal(doc, &d); err != nil {
			return err
		}
		o.workloads = append(o.workloads, kubeWorkload{kind: tm.Kind, role: roleOf(d.Spec.Template), pod: d.Spec.Template})
	case "StatefulSet":
		var s appsv1.StatefulSet
		if err := yaml.Unmarshal(doc, &s); err != nil {
			return err
		}
		o.workloads = append(o.workloads, kubeWorkload{kind: tm.Kind, role: roleOf(s.Spec.Template), pod: s.Spec.Template, claims: s.Spec.VolumeClaimTemplates})
	case "Service":
		var s corev1.Service
		if err := yaml.Unmarshal(doc, &s); err != nil {
			return err
		}
		o.services = append(o.services, s)
	case "Ingress":
		var i networkingv1.Ingress
		if err := yaml.Unmarshal(doc, &i); err != nil {
			return err
		}
		o.ingresses = append(o.ingresses, i)
	}
	return nil
}

func roleOf(pod corev1.PodTemplateSpec) string {
	for _, e := range pod.Spec.Containers[0].Env {
		if e.Name == "GATEWAY_ROLES" {
			return e.Value
		}
	}
	return ""
}

// rolesOf returns the roles whose pods a Service selects.
func (o kubeBaseObjects) rolesOf(service string) []string {
	var roles []string
	for _, s := range o.services {
		if s.Name != service || len(s.Spec.Selector) == 0 {
			continue
		}
		for _, w := range o.workloads {
			if labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(w.pod.Labels)) {
				roles = append(roles, w.role)
			}
		}
	}
	return roles
}

// publicRoutes starts the gateway with one role, every connector enabled
// and the ops listener apart (as the manifests run it), and returns the
// paths its public listener serves, and whether it keeps a spool.
func publicRoutes(t *testing.T, role string) ([]string, bool) {
	t.Helper()
	g := startGateway(t, sqlstore.SQLite, map[string]string{
		"GATEWAY_ROLES": role, "GATEWAY_OPS_ADDR": "127.0.0.1:0", "GATEWAY_API_TOKENS": "admin:adm1n-token",
		"META_APP_SECRET": "s", "META_VERIFY_TOKEN": "v", "SENDGRID_INBOUND_USER": "u", "SENDGRID_INBOUND_PASSWORD": "p",
		"SENDGRID_EVENT_PUBLIC_KEY": sendgridPublicKey, "SENDGRID_API_KEY": "SG.k", "WHATSAPP_ACCESS_TOKEN": "w",
		"WHATSAPP_PHONE_NUMBER_ID": "1", "MESSENGER_PAGE_ACCESS_TOKEN": "m",
	})
	var paths []string
	for _, r := range g.app.GetRoutes(true) {
		// The core's internal API is for other instances of the gateway
		// (GATEWAY_CORE_URL), through the Service, never the Ingress.
		if strings.HasPrefix(r.Path, "/internal/") {
			continue
		}
		if !slices.Contains(paths, r.Path) {
			paths = append(paths, r.Path)
		}
	}
	return paths, g.spool != nil
}

// ingressMatch says whether a networking/v1 path matches a route's path
// (a route's parameters come after any Ingress prefix, so a literal
// comparison of the leading elements is enough).
func ingressMatch(p networkingv1.HTTPIngressPath, route string) bool {
	if p.PathType != nil && *p.PathType == networkingv1.PathTypeExact {
		return route == p.Path
	}
	prefix := strings.TrimSuffix(p.Path, "/")
	return prefix == "" || route == prefix || strings.HasPrefix(route, prefix+"/")
}

// The shipped Ingress sends every path to a role that serves it, checked
// against the routes each role's gateway registers: each Ingress path
// reaches routes of the role behind its Service, and every public route of
// every role is reached by some path, whose longest match goes to a role
// that serves it (so /v1 and /media links do not end at ingest's 404). A
// role that keeps a spool has the spool's directory on a claim of its own
// (a StatefulSet's volumeClaimTemplate).
func TestKubernetesIngressRoutesToServingRole(t *testing.T) {
	base := readKubeBase(t)
	if len(base.ingresses) != 1 {
		t.Fatalf("%d Ingresses in the base, want 1", len(base.ingresses))
	}
	var ingressPaths []networkingv1.HTTPIngressPath
	for _, rule := range base.ingresses[0].Spec.Rules {
		if rule.HTTP != nil {
			ingressPaths = append(ingressPaths, rule.HTTP.Paths...)
		}
	}
	served := map[string][]string{}
	for _, role := range []string{config.RoleIngest, config.RoleCore, config.RoleOutbox} {
		routes, spools := publicRoutes(t, role)
		served[role] = routes
		if spools {
			checkSpoolClaim(t, base, role)
		}
	}
	for _, p := range ingressPaths {
		roles := base.rolesOf(p.Backend.Service.Name)
		if len(roles) != 1 {
			t.Errorf("Ingress path %s: Service %s selects the pods of roles %v, want one", p.Path, p.Backend.Service.Name, roles)
			continue
		}
		if !slices.ContainsFunc(served[roles[0]], func(r string) bool { return ingressMatch(p, r) }) {
			t.Errorf("Ingress path %s goes to %s (role %s), which serves none of it; it serves %v", p.Path, p.Backend.Service.Name, roles[0], served[roles[0]])
		}
	}
	for role, routes := range served {
		for _, route := range routes {
			var best *networkingv1.HTTPIngressPath
			for i, p := range ingressPaths {
				if ingressMatch(p, route) && (best == nil || len(p.Path) > len(best.Path)) {
					best = &ingressPaths[i]
				}
			}
			if best == nil {
				t.Errorf("role %s serves %s, which no Ingress path reaches", role, route)
				continue
			}
			if to := base.rolesOf(best.Backend.Service.Name); len(to) != 1 || !slices.Contains(served[to[0]], route) {
				t.Errorf("role %s serves %s, but the Ingress sends it (path %s) to %s, roles %v, which do not", role, route, best.Path, best.Backend.Service.Name, to)
			}
		}
	}
}

// checkSpoolClaim: the workload of a role that keeps a spool holds
// GATEWAY_DATA_DIR on a volumeClaimTemplate, not on a volume of the pod.
func checkSpoolClaim(t *testing.T, base kubeBaseObjects, role string) {
	t.Helper()
	for _, w := range base.workloads {
		if w.role != role {
			continue
		}
		for _, vm := range w.pod.Spec.Containers[0].VolumeMounts {
			if vm.MountPath == "/data" && !slices.ContainsFunc(w.claims, func(c corev1.PersistentVolumeClaim) bool { return c.Name == vm.Name }) {
				t.Errorf("role %s keeps a spool, but its %s mounts /data from %s, not a volumeClaimTemplate", role, w.kind, vm.Name)
			}
		}
		return
	}
	t.Errorf("no workload of the base runs role %s", role)
}
