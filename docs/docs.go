// Package docs embeds the API reference so the binary serves it at
// /api/v1/openapi.yaml; the Markdown files beside it are for humans.
package docs

import _ "embed"

// OpenAPI is docs/openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte
