package config

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// configMapUse says whether the pods take the ConfigMap name as variables
// (envFrom) and whether they mount it as files.
func configMapUse(m manifests, name string) (asEnv, asFiles bool) {
	for _, w := range m.workloads {
		for _, c := range w.pod.Spec.Containers {
			for _, from := range c.EnvFrom {
				asEnv = asEnv || (from.ConfigMapRef != nil && from.ConfigMapRef.Name == name)
			}
		}
		for _, v := range w.pod.Spec.Volumes {
			asFiles = asFiles || (v.ConfigMap != nil && v.ConfigMap.Name == name)
		}
	}
	return asEnv, asFiles
}

// entryPointsFile is the content of the file GATEWAY_ENTRY_POINTS names in
// a workload's container: a key of a ConfigMap of the base mounted at its
// directory; ok is false (with why) when the pod has no such file.
func entryPointsFile(m manifests, w workload, env map[string]corev1.EnvVar) (content string, ok bool, why string) {
	path := env["GATEWAY_ENTRY_POINTS"].Value
	if !filepath.IsAbs(path) {
		return "", false, fmt.Sprintf("GATEWAY_ENTRY_POINTS %q is not an absolute path", path)
	}
	c := w.pod.Spec.Containers[0]
	for _, vm := range c.VolumeMounts {
		rel, err := filepath.Rel(vm.MountPath, path)
		if err != nil || rel == "." || strings.HasPrefix(rel, "..") || vm.SubPath != "" {
			continue
		}
		i := slices.IndexFunc(w.pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == vm.Name })
		if i < 0 || w.pod.Spec.Volumes[i].ConfigMap == nil {
			return "", false, fmt.Sprintf("GATEWAY_ENTRY_POINTS %s is on volume %s, not a ConfigMap of the base", path, vm.Name)
		}
		src := w.pod.Spec.Volumes[i].ConfigMap
		key := rel
		for _, item := range src.Items {
			if item.Path == rel {
				key = item.Key
			}
		}
		content, found := m.configValues[src.Name][key]
		if !found {
			return "", false, fmt.Sprintf("GATEWAY_ENTRY_POINTS %s: ConfigMap %s has no key %s", path, src.Name, key)
		}
		return content, true, ""
	}
	return "", false, fmt.Sprintf("GATEWAY_ENTRY_POINTS %s is on no volume of the pod", path)
}

// entryPointProblems checks the entry points file the base ships: every
// role mounts the same valid file, each credential variable it names is a
// key of the base's Secret and a variable of every role (from that
// Secret, not optional: each role checks the file at start), and the
// Secret holds nothing but variables the gateway reads and those the file
// names. It returns the variables the pods may have: vars and the file's.
func entryPointProblems(t *testing.T, m manifests, vars map[string]bool) (map[string]bool, []string) {
	t.Helper()
	var problems []string
	files := map[string]bool{}
	for _, w := range m.workloads {
		env := podEnv(t, m, w, w.pod.Spec.Containers[0])
		if _, set := env["GATEWAY_ENTRY_POINTS"]; !set {
			problems = append(problems, fmt.Sprintf("%s: no GATEWAY_ENTRY_POINTS: its entry points would differ from the other roles'", w))
			continue
		}
		content, ok, why := entryPointsFile(m, w, env)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: %s", w, why))
			continue
		}
		files[content] = true
		eps, bad := ParseEntryPoints([]byte(content), func(string) string { return "set" })
		for _, b := range bad {
			problems = append(problems, fmt.Sprintf("%s: entry points file: %s", w, b))
		}
		for _, ep := range eps {
			for _, v := range ep.Credentials {
				m.entryPointVars[v] = true
			}
		}
	}
	if len(files) > 1 {
		problems = append(problems, fmt.Sprintf("the roles mount %d different entry points files", len(files)))
	}
	all := map[string]bool{}
	for k := range vars {
		all[k] = true
	}
	named := sortedKeys(m.entryPointVars)
	for _, v := range named {
		all[v] = true
	}
	problems = append(problems, entryPointEnvProblems(t, m, named)...)
	for name, keys := range m.secrets {
		for _, k := range sortedKeys(keys) {
			if !all[k] {
				problems = append(problems, fmt.Sprintf("Secret %s: %s is neither a variable the gateway reads nor one the entry points file names", name, k))
			}
		}
	}
	return all, problems
}

// entryPointEnvProblems: each variable the entry points file names is a
// key of a Secret of the base and a variable of every role, taken from
// that key, not optional.
func entryPointEnvProblems(t *testing.T, m manifests, named []string) []string {
	t.Helper()
	var problems []string
	for _, v := range named {
		if !slices.ContainsFunc(sortedKeys(m.secrets), func(s string) bool { return m.secrets[s][v] }) {
			problems = append(problems, fmt.Sprintf("the entry points file names %s, which no Secret of the base has", v))
		}
		for _, w := range m.workloads {
			e, ok := podEnv(t, m, w, w.pod.Spec.Containers[0])[v]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("%s: no %s, which the entry points file names (the role refuses to start without it)", w, v))
			case e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil:
				problems = append(problems, fmt.Sprintf("%s: %s, a credential of the entry points file, does not come from a Secret", w, v))
			case e.ValueFrom.SecretKeyRef.Optional != nil && *e.ValueFrom.SecretKeyRef.Optional:
				problems = append(problems, fmt.Sprintf("%s: %s is optional, but the entry points file needs it", w, v))
			case !m.secrets[e.ValueFrom.SecretKeyRef.Name][e.ValueFrom.SecretKeyRef.Key]:
				problems = append(problems, fmt.Sprintf("%s: %s refers to %s/%s, which the base's Secret does not have", w, v,
					e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key))
			}
		}
	}
	return problems
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// The checks of the entry points file catch a base whose Secret lacks a
// variable the file names or holds one nobody reads, a role without such a
// variable, and a file that names a variable the Secret does not have.
func TestKubernetesEntryPointsChecked(t *testing.T) {
	vars := variables(t)
	m := loadManifests(t)
	if _, problems := entryPointProblems(t, m, vars); len(problems) > 0 {
		t.Fatalf("the shipped base: %q", problems)
	}
	if len(m.entryPointVars) == 0 {
		t.Fatal("the shipped entry points file names no credential: nothing here is checked")
	}
	named := sortedKeys(m.entryPointVars)[0]
	for _, tc := range []struct {
		name   string
		break_ func(m *manifests)
		want   string
	}{
		{"a named variable missing from the Secret", func(m *manifests) { delete(m.secrets["gateway-secrets"], named) },
			"which no Secret of the base has"},
		{"a Secret key nobody reads", func(m *manifests) { m.secrets["gateway-secrets"]["SENDGRID_FR_API_KEY"] = true },
			"SENDGRID_FR_API_KEY is neither a variable the gateway reads nor one the entry points file names"},
		{"a role without a named variable", func(m *manifests) {
			c := &m.workloads[0].pod.Spec.Containers[0]
			c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == named })
		}, "which the entry points file names"},
		{"a file naming a variable the Secret lacks", func(m *manifests) {
			for k, v := range m.configValues["gateway-entry-points"] {
				m.configValues["gateway-entry-points"][k] = strings.Replace(v, named, "SENDGRID_XX_API_KEY", 1)
			}
		}, "SENDGRID_XX_API_KEY, which no Secret of the base has"},
		{"a file that is not valid", func(m *manifests) {
			for k := range m.configValues["gateway-entry-points"] {
				m.configValues["gateway-entry-points"][k] = "entry_points: []\n"
			}
		}, "entry points file: line 1: entry_points is empty"},
	} {
		m := loadManifests(t)
		tc.break_(&m)
		_, problems := entryPointProblems(t, m, vars)
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
			t.Errorf("%s: problems %q, want one saying %q", tc.name, problems, tc.want)
		}
	}
}
