package normalize

import (
	"bytes"
	_ "embed"
)

//go:embed asyncapi.yaml
var asyncAPI []byte

// AsyncAPIDocument returns the AsyncAPI 3.0 document of the gateway's Kafka
// topics: every topic with its key, headers and message types. Event
// payloads are referenced as "./schemas/<type>.json", relative to the
// document, so whoever serves it serves the schemas beside it.
func AsyncAPIDocument() []byte { return bytes.Clone(asyncAPI) }
