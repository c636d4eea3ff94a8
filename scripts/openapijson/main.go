// Command openapijson turns the API's OpenAPI document, written in YAML for
// people, into the JSON the API embeds and serves at /openapi.json and the
// client generator reads. `make generate` runs it; the JSON is committed and
// drift-checked like every other generated file.
//
// Keys keep the order they have in the YAML, so the JSON reads like its
// source; anchors and aliases are expanded.
//
//	go run ./scripts/openapijson -in openapi.yaml -out openapi.json
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"
)

func main() {
	in := flag.String("in", "", "the OpenAPI document in YAML")
	out := flag.String("out", "", "where to write it as JSON")
	flag.Parse()
	if *in == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: openapijson -in openapi.yaml -out openapi.json")
		os.Exit(2)
	}
	if err := convertFile(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "openapijson:", err)
		os.Exit(1)
	}
}

func convertFile(in, out string) error {
	source, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	document, err := yamlToJSON(source)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	return os.WriteFile(out, document, 0o644)
}

// yamlToJSON converts one YAML document to indented JSON, keeping key order.
func yamlToJSON(source []byte) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(source, &root); err != nil {
		return nil, err
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 {
		return nil, fmt.Errorf("want exactly one YAML document")
	}
	var compact bytes.Buffer
	if err := writeJSON(&compact, root.Content[0]); err != nil {
		return nil, err
	}
	var indented bytes.Buffer
	if err := json.Indent(&indented, compact.Bytes(), "", "  "); err != nil {
		return nil, err
	}
	indented.WriteByte('\n')
	return indented.Bytes(), nil
}

func writeJSON(buf *bytes.Buffer, node *yaml.Node) error {
	switch node.Kind {
	case yaml.AliasNode:
		return writeJSON(buf, node.Alias)
	case yaml.MappingNode:
		buf.WriteByte('{')
		seen := map[string]bool{}
		for i := 0; i < len(node.Content); i += 2 {
			key, value := node.Content[i], node.Content[i+1]
			if key.Kind != yaml.ScalarNode || key.Tag == "!!merge" {
				return fmt.Errorf("line %d: only plain scalar keys are supported", key.Line)
			}
			if seen[key.Value] {
				return fmt.Errorf("line %d: duplicate key %q", key.Line, key.Value)
			}
			seen[key.Value] = true
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeScalar(buf, key.Value); err != nil {
				return err
			}
			buf.WriteByte(':')
			if err := writeJSON(buf, value); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, item := range node.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSON(buf, item); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case yaml.ScalarNode:
		var value any
		if err := node.Decode(&value); err != nil {
			return fmt.Errorf("line %d: %w", node.Line, err)
		}
		if err := writeScalar(buf, value); err != nil {
			return fmt.Errorf("line %d: %w", node.Line, err)
		}
	default:
		return fmt.Errorf("line %d: unsupported YAML node kind %v", node.Line, node.Kind)
	}
	return nil
}

// writeScalar encodes one value without HTML escaping, so that "<size>" in a
// description stays readable.
func writeScalar(buf *bytes.Buffer, value any) error {
	encoder := json.NewEncoder(buf)
	encoder.SetEscapeHTML(false)
	if err := encoder.Encode(value); err != nil {
		return err
	}
	buf.Truncate(buf.Len() - 1) // Encode's trailing newline
	return nil
}
