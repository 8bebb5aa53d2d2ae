package normalize

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type asyncAPIMessage struct {
	Name    string `yaml:"name"`
	Payload struct {
		Ref string `yaml:"$ref"`
	} `yaml:"payload"`
}

type asyncAPIDoc struct {
	AsyncAPI string `yaml:"asyncapi"`
	Channels map[string]struct {
		Address  string                       `yaml:"address"`
		Messages map[string]map[string]string `yaml:"messages"`
	} `yaml:"channels"`
	Components struct {
		Messages map[string]asyncAPIMessage `yaml:"messages"`
	} `yaml:"components"`
}

// topicMessages maps each topic address to the names of the messages its
// channel lists, and each message name to the payload schema it references.
func topicMessages(t *testing.T) (map[string][]string, map[string][]string) {
	t.Helper()
	var doc asyncAPIDoc
	if err := yaml.Unmarshal(AsyncAPIDocument(), &doc); err != nil {
		t.Fatalf("asyncapi.yaml: %v", err)
	}
	if !strings.HasPrefix(doc.AsyncAPI, "3.") {
		t.Fatalf("asyncapi: %q, want 3.x", doc.AsyncAPI)
	}
	byTopic := map[string][]string{}
	refs := map[string][]string{}
	for id, ch := range doc.Channels {
		for key, m := range ch.Messages {
			ref, ok := strings.CutPrefix(m["$ref"], "#/components/messages/")
			if !ok {
				t.Fatalf("channel %s message %s: $ref %q is not a component message", id, key, m["$ref"])
			}
			msg, ok := doc.Components.Messages[ref]
			if !ok {
				t.Fatalf("channel %s message %s: no component message %q", id, key, ref)
			}
			byTopic[ch.Address] = append(byTopic[ch.Address], msg.Name)
			if msg.Payload.Ref != "" {
				refs[ch.Address] = append(refs[ch.Address], msg.Payload.Ref)
			}
		}
	}
	return byTopic, refs
}

// Every topic the gateway uses is described.
func TestAsyncAPIDescribesEveryTopic(t *testing.T) {
	byTopic, _ := topicMessages(t)
	for _, topic := range []string{"gateway.raw.v1", "gateway.inbound.v1", "gateway.events.v1", "gateway.outbound.v1", "gateway.dlq.v1", "gateway.commands.v1"} {
		if len(byTopic[topic]) == 0 {
			t.Errorf("topic %s: no channel with messages", topic)
		}
	}
}

// Every event type the code can emit is a message of the topic it is
// published on: the Type constants of this package, and any event type
// written as a literal in core or outbox.
func TestAsyncAPIHasEveryEventType(t *testing.T) {
	byTopic, _ := topicMessages(t)
	types := typeConstants(t, ".")
	if len(types) < 10 {
		t.Fatalf("found only %d Type constants: %v", len(types), types)
	}
	for _, dir := range []string{"../core", "../outbox"} {
		types = append(types, eventTypeLiterals(t, dir)...)
	}
	for _, typ := range types {
		found := false
		for _, names := range byTopic {
			found = found || slices.Contains(names, typ)
		}
		if !found {
			t.Errorf("event type %q is not a message of any channel in asyncapi.yaml", typ)
		}
	}
	// Inbound types are on inbound.v1, every other on events.v1; the
	// reply command on outbound.v1.
	for _, typ := range []string{TypeMessageReceived, TypeMessageStatus} {
		if !slices.Contains(byTopic["gateway.inbound.v1"], typ) {
			t.Errorf("%s is not a message of gateway.inbound.v1", typ)
		}
	}
	for _, typ := range typeConstants(t, ".") {
		if typ != TypeMessageStatus && !slices.Contains(byTopic["gateway.events.v1"], typ) {
			t.Errorf("%s is not a message of gateway.events.v1", typ)
		}
	}
	if !slices.Contains(byTopic["gateway.outbound.v1"], "message.send") {
		t.Errorf("message.send is not a message of gateway.outbound.v1")
	}
	for _, typ := range CommandTypes {
		if !slices.Contains(byTopic["gateway.commands.v1"], typ) {
			t.Errorf("command %s is not a message of gateway.commands.v1", typ)
		}
	}
}

// Every shipped schema is the payload of a message on its topic, and every
// schema the document references exists.
func TestAsyncAPIReferencesShippedSchemas(t *testing.T) {
	_, refs := topicMessages(t)
	var doc map[string]any
	if err := yaml.Unmarshal(AsyncAPIDocument(), &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok && !strings.HasPrefix(ref, "#") {
				file, _, _ := strings.Cut(ref, "#")
				if _, err := fs.Stat(schemaFS, filepath.ToSlash(filepath.Clean(file))); err != nil {
					t.Errorf("$ref %q: %v", ref, err)
				}
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(doc)
	for _, name := range SchemaNames() {
		topic, file := "gateway.events.v1", "./schemas/"+name+".json"
		switch {
		case strings.HasPrefix(name, "inbound/"):
			topic = "gateway.inbound.v1"
		case strings.HasPrefix(name, "commands/"):
			topic = "gateway.commands.v1"
		}
		if !slices.Contains(refs[topic], file) {
			t.Errorf("schema %s is not the payload of a message on %s", file, topic)
		}
	}
}

// typeConstants returns the values of the string constants named Type* in
// the Go files of dir.
func typeConstants(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, f := range parseDir(t, dir) {
		ast.Inspect(f, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "Type") || i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					s, _ := strconv.Unquote(lit.Value)
					out = append(out, s)
				}
			}
			return true
		})
	}
	return out
}

var eventTypeLiteral = regexp.MustCompile(`^(message|conversation|customer|note)\.[a-z_]+$`)

// eventTypeLiterals returns string literals in dir that look like event
// types ("conversation.closed"), for types written without a constant.
func eventTypeLiterals(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, f := range parseDir(t, dir) {
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && eventTypeLiteral.MatchString(s) {
					out = append(out, s)
				}
			}
			return true
		})
	}
	return out
}

func parseDir(t *testing.T, dir string) []*ast.File {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no Go files in %s: %v", dir, err)
	}
	var out []*ast.File
	fset := token.NewFileSet()
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, p, src, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	return out
}
