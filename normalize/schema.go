package normalize

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed schemas
var schemaFS embed.FS

const schemaBase = "https://gateway.example/schemas/"

var (
	schemaOnce sync.Once
	schemas    map[string]*jsonschema.Schema
	schemaErr  error
)

func loadSchemas() {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	schemas = map[string]*jsonschema.Schema{}
	var names []string
	schemaErr = fs.WalkDir(schemaFS, "schemas", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := schemaFS.ReadFile(path)
		if err != nil {
			return err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		url := schemaBase + strings.TrimPrefix(path, "schemas/")
		if err := c.AddResource(url, doc); err != nil {
			return err
		}
		names = append(names, strings.TrimPrefix(path, "schemas/"))
		return nil
	})
	if schemaErr != nil {
		return
	}
	for _, n := range names {
		if n == "defs.json" {
			continue
		}
		s, err := c.Compile(schemaBase + n)
		if err != nil {
			schemaErr = err
			return
		}
		schemas[strings.TrimSuffix(n, ".json")] = s
	}
}

// SchemaNames lists the shipped event schemas: "message.queued" for
// events.v1, "inbound/message.received" for inbound.v1.
func SchemaNames() []string {
	schemaOnce.Do(loadSchemas)
	out := make([]string, 0, len(schemas))
	for n := range schemas {
		out = append(out, n)
	}
	return out
}

// ValidateEvent checks an event against the JSON Schema of its type. topic
// is "inbound" for inbound.v1 events and "" for events.v1.
func ValidateEvent(topic string, raw []byte) error {
	schemaOnce.Do(loadSchemas)
	if schemaErr != nil {
		return fmt.Errorf("normalize: schemas: %w", schemaErr)
	}
	var probe struct{ Type string }
	if err := json.Unmarshal(raw, &probe); err != nil {
		return fmt.Errorf("%w: %v", ErrEvent, err)
	}
	name := probe.Type
	if topic != "" {
		name = topic + "/" + name
	}
	s, ok := schemas[name]
	if !ok {
		return fmt.Errorf("%w: no schema for %q", ErrEvent, name)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrEvent, err)
	}
	if err := s.Validate(doc); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrEvent, name, err)
	}
	return nil
}
