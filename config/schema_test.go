package config

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

// schemaFile is the shipped schema, written by go run ./config/internal/schemagen.
const schemaFile = "../docs/schema/fence.schema.json"

func TestSchemaInSync(t *testing.T) {
	want, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatalf("%v (run make schema)", err)
	}
	if string(got) != string(want) {
		t.Fatalf("%s is stale: run `make schema` (go run ./config/internal/schemagen) and commit the result", schemaFile)
	}
}

// The schema describes every field, with additionalProperties false at
// every level, and its property names are exactly what the loader accepts.
func TestSchemaShape(t *testing.T) {
	b, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s["$schema"] != schemaDraft || s["$id"] != SchemaURL {
		t.Errorf("header: %v %v", s["$schema"], s["$id"])
	}
	var walk func(obj map[string]any, typ reflect.Type, path string)
	walk = func(obj map[string]any, typ reflect.Type, path string) {
		if obj["additionalProperties"] != false {
			t.Errorf("%s: additionalProperties is not false", path)
		}
		props, _ := obj["properties"].(map[string]any)
		if len(props) != typ.NumField() {
			t.Errorf("%s: %d properties, %d fields", path, len(props), typ.NumField())
		}
		for i := range typ.NumField() {
			f := typ.Field(i)
			name := jsonName(f)
			p, ok := props[name].(map[string]any)
			if !ok {
				t.Errorf("%s: no property %q", path, name)
				continue
			}
			if d, _ := p["description"].(string); len(d) < 10 {
				t.Errorf("%s.%s: description %q", path, name, d)
			}
			if f.Type.Kind() == reflect.Struct {
				walk(p, f.Type, path+"."+name)
			}
		}
	}
	walk(s, reflect.TypeFor[Config](), "")
	// Optional booleans accept null; ports carry their range.
	network := s["properties"].(map[string]any)["network"].(map[string]any)["properties"].(map[string]any)
	if typ := network["allowLocalOutbound"].(map[string]any)["type"]; !reflect.DeepEqual(typ, []any{"boolean", "null"}) {
		t.Errorf("allowLocalOutbound type = %v", typ)
	}
	items := network["allowLocalOutboundPorts"].(map[string]any)["items"].(map[string]any)
	if items["minimum"] != float64(1) || items["maximum"] != float64(65535) {
		t.Errorf("allowLocalOutboundPorts items = %v", items)
	}
}
