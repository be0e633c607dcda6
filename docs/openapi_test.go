package docs

// The API reference must not fall behind the code: every route the REST API
// registers must be documented in openapi.yaml with its method, and every
// documented /api/v1 operation must still exist. The module has no YAML
// library, so the document's path keys are read with a small line scanner;
// openapi.yaml keeps the layout it relies on (two-space indentation, path
// keys directly under the top-level "paths:", methods directly under them).

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// apiSource is the file whose Register method mounts every REST route.
var apiSource = filepath.Join("..", "internal", "httpapi", "api.go")

// routeRE matches a registration such as handle("POST /api/v1/sites", ...).
// The /api/ catch-all has no method and does not match.
var routeRE = regexp.MustCompile(`\bhandle\("([A-Z]+) (/[^"\s]*)"`)

// wildcardRE matches a Go pattern wildcard: {id}, {rest...}, {$}.
var wildcardRE = regexp.MustCompile(`\{([A-Za-z_$][A-Za-z0-9_]*)(?:\.\.\.)?\}`)

var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// registeredRoutes returns "METHOD /path" for every route of api.go that the
// document must describe: not the CORS preflight (OPTIONS), not the /api/
// catch-all, not the WebSocket upgrades (/ws/).
func registeredRoutes(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile(apiSource)
	if err != nil {
		t.Fatalf("read %s: %v", apiSource, err)
	}
	var out []string
	for _, m := range routeRE.FindAllStringSubmatch(string(src), -1) {
		method, path := m[1], m[2]
		if method == "OPTIONS" || strings.HasPrefix(path, "/ws/") || path == "/api/" {
			continue
		}
		// Go's {name...} and {$} become OpenAPI's {name}, or nothing.
		path = wildcardRE.ReplaceAllStringFunc(path, func(w string) string {
			name := wildcardRE.FindStringSubmatch(w)[1]
			if name == "$" {
				return ""
			}
			return "{" + name + "}"
		})
		out = append(out, method+" "+path)
	}
	return out
}

// documentedOperations scans openapi.yaml and returns, for each path key
// under "paths:", its upper-case methods.
func documentedOperations(t *testing.T, doc []byte) map[string][]string {
	t.Helper()
	ops := map[string][]string{}
	inPaths, path := false, ""
	sc := bufio.NewScanner(bytes.NewReader(doc))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), " \t\r")
		trimmed := strings.TrimLeft(line, " ")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if strings.HasPrefix(line, "\t") {
			t.Fatalf("openapi.yaml:%d: tab indentation", n)
		}
		indent := len(line) - len(trimmed)
		if indent == 0 {
			inPaths = line == "paths:"
			path = ""
			continue
		}
		if !inPaths {
			continue
		}
		key, _, isKey := strings.Cut(trimmed, ":")
		switch indent {
		case 2:
			if !isKey {
				t.Fatalf("openapi.yaml:%d: expected a path key under paths:, got %q", n, trimmed)
			}
			key = strings.Trim(key, `"'`)
			if !strings.HasPrefix(key, "/") {
				t.Fatalf("openapi.yaml:%d: path key %q does not start with /", n, key)
			}
			if _, dup := ops[key]; dup {
				t.Fatalf("openapi.yaml:%d: path %s appears twice", n, key)
			}
			path = key
			ops[path] = []string{}
		case 4:
			if isKey && path != "" && slices.Contains(openAPIMethods, key) {
				ops[path] = append(ops[path], strings.ToUpper(key))
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("scan openapi.yaml: %v", err)
	}
	return ops
}

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	doc, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(doc, OpenAPI) {
		t.Fatal("the embedded OpenAPI document differs from openapi.yaml")
	}
	routes := registeredRoutes(t)
	// A guard against the pattern silently matching nothing after a
	// refactor of api.go.
	if len(routes) < 40 {
		t.Fatalf("found only %d routes in %s; has the registration style changed?", len(routes), apiSource)
	}
	ops := documentedOperations(t, doc)
	if len(ops) == 0 {
		t.Fatal("no paths found in openapi.yaml")
	}

	registered := map[string]bool{}
	for _, r := range routes {
		registered[r] = true
		method, path, _ := strings.Cut(r, " ")
		methods, ok := ops[path]
		switch {
		case !ok:
			t.Errorf("%s is registered in %s but openapi.yaml has no path %s", r, apiSource, path)
		case !slices.Contains(methods, method):
			t.Errorf("%s is registered in %s but openapi.yaml documents only %v for %s", r, apiSource, methods, path)
		}
	}

	// The other way round: a documented /api/v1 operation must exist. The
	// preflight (one route for every visitor path) and the document itself
	// are registered elsewhere.
	for path, methods := range ops {
		if !strings.HasPrefix(path, "/api/v1/") || path == "/api/v1/openapi.yaml" {
			continue
		}
		for _, m := range methods {
			if m == "OPTIONS" {
				continue
			}
			if !registered[m+" "+path] {
				t.Errorf("openapi.yaml documents %s %s, which %s does not register", m, path, apiSource)
			}
		}
	}
}

// TestOpenAPIScannerReadsPathKeys checks the scanner itself on a small
// document, so that a mistake in it cannot make the test above pass
// vacuously.
func TestOpenAPIScannerReadsPathKeys(t *testing.T) {
	doc := []byte(`openapi: 3.1.0
info:
  title: x
paths:
  /a/{id}:
    parameters:
      - name: id
    get:
      responses:
        "200": {description: ok}
    post:
      description: |
        get: not a method here
  "/b":
    delete: {}
components:
  schemas:
    /not-a-path:
      get: {}
`)
	got := documentedOperations(t, doc)
	want := map[string][]string{"/a/{id}": {"GET", "POST"}, "/b": {"DELETE"}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for p, ms := range want {
		if !slices.Equal(got[p], ms) {
			t.Fatalf("path %s: got %v, want %v", p, got[p], ms)
		}
	}
}
