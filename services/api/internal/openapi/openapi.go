// Package openapi holds the API's OpenAPI 3 document, the source of truth
// for its routes: a test holds the served routes and the document to each
// other, and request bodies are validated by hookdoc against the rules the
// document states.
//
// People edit openapi.yaml; `make generate` writes openapi.json from it (and
// the typed client in pkg/apiclient). The JSON is embedded so the binary
// serves exactly what it was built with.
package openapi

import _ "embed"

//go:embed openapi.json
var document []byte

// Document returns the OpenAPI document as JSON. Callers must not modify it.
func Document() []byte { return document }
