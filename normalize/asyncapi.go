package normalize

import (
	"bytes"
	_ "embed"
	"io/fs"
	"strings"
)

//go:embed asyncapi.yaml
var asyncAPI []byte

// AsyncAPIDocument returns the AsyncAPI 3.0 document of the gateway's Kafka
// topics: every topic with its key, headers and message types. Event
// payloads are referenced as "./schemas/<type>.json", relative to the
// document, so whoever serves it serves the schemas beside it.
func AsyncAPIDocument() []byte { return bytes.Clone(asyncAPI) }

// SchemaFile returns a shipped JSON Schema file by its path under schemas/
// ("message.received.json", "inbound/message.received.json", "defs.json"),
// the files asyncapi.yaml refers to; ok is false for any other name.
func SchemaFile(name string) (b []byte, ok bool) {
	if !fs.ValidPath(name) || !strings.HasSuffix(name, ".json") {
		return nil, false
	}
	b, err := schemaFS.ReadFile("schemas/" + name)
	return b, err == nil
}
