package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/opengateway/gateway/core"
)

// decodeBody decodes a JSON object into v: no unknown fields, nothing after it.
func decodeBody(c *fiber.Ctx, v any) error {
	body := bytes.TrimSpace(c.Body())
	if len(body) == 0 || body[0] != '{' {
		return core.Errorf(core.EINVALID, "the request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return core.Errorf(core.EINVALID, "invalid JSON body: %s", jsonProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return core.Errorf(core.EINVALID, "invalid JSON body: data after the object")
	}
	// encoding/json matches names regardless of case; the API does not.
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(body, &keys); err != nil {
		return core.Errorf(core.EINVALID, "invalid JSON body: %s", jsonProblem(err))
	}
	known := jsonNames(reflect.TypeOf(v).Elem())
	for k := range keys {
		if !known[k] {
			return core.Errorf(core.EINVALID, "invalid JSON body: unknown field %q", k)
		}
	}
	return nil
}

// jsonNames returns the JSON names of a struct's fields.
func jsonNames(t reflect.Type) map[string]bool {
	names := map[string]bool{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			names[name] = true
		}
	}
	return names
}

// jsonProblem says what is wrong with a body in the API's words, not Go's.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed at byte %d", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("%s must be %s", typ.Field, jsonKind(typ.Type.Kind().String()))
		}
		return "the body must be a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "truncated"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "malformed"
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	case "bool":
		return "true or false"
	}
	return "a number"
}

// validID accepts what a gateway id can look like; anything else names
// nothing that exists.
func validID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// pathID returns the :id of the path; an id no record can have is a 404.
func pathID(c *fiber.Ctx, what string) (string, error) {
	id := c.Params("id")
	if !validID(id) {
		if len(id) > 64 {
			id = id[:64] + "…"
		}
		return "", core.Errorf(core.ENOTFOUND, "%s %q not found", what, id)
	}
	return strings.Clone(id), nil
}

// query returns a query parameter, which must be printable UTF-8 of at most
// 320 bytes (the longest email address).
func query(c *fiber.Ctx, name string) (string, error) {
	v := c.Query(name)
	if v == "" {
		return "", nil
	}
	if err := checkName(name, v); err != nil {
		return "", err
	}
	return strings.Clone(v), nil
}

// checkName checks a short text (an agent, inbox, reason, address): UTF-8,
// no control characters, at most 320 bytes.
func checkName(field, v string) error { return core.CheckName(field, v) }
