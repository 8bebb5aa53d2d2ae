package main

import (
	"bufio"
	"encoding/json"
	"io/fs"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/opengateway/gateway/config"
)

const repoRoot = "../.."

// dockerfile returns the instructions of the Dockerfile's last stage (the
// image that runs), keyword upper-cased, continuation lines joined.
func dockerfile(t *testing.T) [][2]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var out [][2]string
	joined := strings.ReplaceAll(string(b), "\\\n", " ")
	for _, line := range strings.Split(joined, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		kw, rest, _ := strings.Cut(line, " ")
		if kw = strings.ToUpper(kw); kw == "FROM" {
			out = nil
		}
		out = append(out, [2]string{kw, strings.TrimSpace(rest)})
	}
	return out
}

// The image exposes only ports its gateway serves to other hosts (the
// embedded broker listens on loopback by default), and has a HEALTHCHECK in
// exec form (no shell in the image) that runs `gateway healthcheck`.
func TestDockerfileServesWhatItExposes(t *testing.T) {
	env := map[string]string{}
	var exposed []string
	var health string
	for _, in := range dockerfile(t) {
		switch in[0] {
		case "ENV":
			for _, kv := range strings.Fields(in[1]) {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
		case "EXPOSE":
			exposed = append(exposed, strings.Fields(in[1])...)
		case "HEALTHCHECK":
			health = in[1]
		}
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, addr := range []string{cfg.HTTPAddr, cfg.OpsAddr, cfg.EmbeddedKafkaAddr} {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			continue
		}
		if ip := net.ParseIP(host); host == "" || (ip != nil && !ip.IsLoopback()) {
			served[port] = true
		}
	}
	for _, p := range exposed {
		if !served[strings.TrimSuffix(p, "/tcp")] {
			t.Errorf("EXPOSE %s: the image's gateway serves no other host on it (it serves %v)", p, served)
		}
	}
	_, cmd, ok := strings.Cut(health, "CMD ")
	var argv []string
	if !ok || json.Unmarshal([]byte(cmd), &argv) != nil {
		t.Fatalf("HEALTHCHECK %q: want CMD in exec form, [\"/gateway\", \"healthcheck\"] (the image has no shell)", health)
	}
	if !slices.Equal(argv, []string{"/gateway", "healthcheck"}) {
		t.Errorf("HEALTHCHECK runs %v, want /gateway healthcheck", argv)
	}
}

// dockerignored says whether Docker leaves rel out of the build context: a
// pattern matches it or one of its parent directories ("**" is any number
// of elements, "!" includes again; the last match wins).
func dockerignored(patterns []string, rel string) bool {
	parts := strings.Split(rel, "/")
	out := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		rx := globRegexp(path.Clean(strings.Trim(strings.TrimPrefix(p, "!"), "/")))
		for k := 1; k <= len(parts); k++ {
			if rx.MatchString(strings.Join(parts[:k], "/")) {
				out = !neg
				break
			}
		}
	}
	return out
}

func globRegexp(glob string) *regexp.Regexp {
	var b strings.Builder
	for i := 0; i < len(glob); i++ {
		switch {
		case strings.HasPrefix(glob[i:], "**/"):
			b.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(glob[i:], "**"):
			b.WriteString(".*")
			i++
		case glob[i] == '*':
			b.WriteString("[^/]*")
		case glob[i] == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(glob[i : i+1]))
		}
	}
	return regexp.MustCompile("^" + b.String() + "$")
}

// The build context leaves out the local data dir (database, keys, spool),
// keys, databases, .git, node_modules and test output, and keeps every file
// the build reads: go.mod, go.sum, each non-test Go file and what they
// embed.
func TestDockerignore(t *testing.T) {
	f, err := os.Open(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var patterns []string
	for s := bufio.NewScanner(f); s.Scan(); {
		if l := strings.TrimSpace(s.Text()); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, l)
		}
	}
	for _, p := range []string{"data/gateway.db", "data/media.key", "data/chat.key", "data/spool/000001.seg", "data/kafka/x",
		"cmd/gateway/data/gateway.db", ".git/config", "normalize/asyncapi-check/node_modules/x/index.js", "gateway.db",
		"gateway.db-wal", "x.key", "connectors/sendgrid/testdata/sendgrid_selfsigned_private_key.pem", "cmd/gateway/gateway.test",
		"cover.out", "gateway"} {
		if !dockerignored(patterns, p) {
			t.Errorf("%s goes into the build context", p)
		}
	}
	needed := []string{"go.mod", "go.sum"}
	embed := regexp.MustCompile(`(?m)^//go:embed (.+)$`)
	err = filepath.WalkDir(repoRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") || strings.Contains(p, "/.git/") {
			return err
		}
		rel, _ := filepath.Rel(repoRoot, p)
		needed = append(needed, filepath.ToSlash(rel))
		b, err := os.ReadFile(p)
		for _, m := range embed.FindAllStringSubmatch(string(b), -1) {
			for _, e := range strings.Fields(m[1]) {
				needed = append(needed, embedded(t, filepath.Join(filepath.Dir(p), e))...)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range needed {
		if dockerignored(patterns, p) {
			t.Errorf("%s is left out of the build context, but the build reads it", p)
		}
	}
}

// embedded lists the files under an embed target, relative to the root.
func embedded(t *testing.T, target string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(target, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(repoRoot, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil || len(files) == 0 {
		t.Fatalf("go:embed %s: %v, %d files", target, err, len(files))
	}
	return files
}
