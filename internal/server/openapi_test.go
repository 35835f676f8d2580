package server

import (
	"os"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestOpenAPIDocumentsEveryRoute: docs/api.yaml has every route of
// routes.go and no other; each operation names its roles and its schemas
// exist.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	data, err := os.ReadFile("../../docs/api.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string `yaml:"openapi"`
		Paths   map[string]map[string]struct {
			OperationID string   `yaml:"operationId"`
			Roles       []string `yaml:"x-roles"`
			Responses   map[string]any
		} `yaml:"paths"`
		Components struct {
			Schemas map[string]any `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("docs/api.yaml: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi = %q; want 3.x", doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method, op := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
			if op.OperationID == "" || op.Roles == nil || op.Responses["200"] == nil || op.Responses["default"] == nil {
				t.Errorf("%s %s: needs operationId, x-roles, a 200 and a default (Error) response", method, path)
			}
		}
	}
	for _, rt := range routes {
		method, path, _ := strings.Cut(rt.pattern, " ")
		want := []string{}
		if len(rt.roles) == len(operators) {
			want = []string{"any operator role"}
		} else {
			for _, r := range rt.roles {
				want = append(want, string(r))
			}
		}
		if got := doc.Paths[path][strings.ToLower(method)].Roles; got != nil && !slices.Equal(got, want) {
			t.Errorf("%s: x-roles %v; routes.go says %v", rt.pattern, got, want)
		}
	}
	routes := Routes()
	slices.Sort(routes)
	slices.Sort(documented)
	for _, r := range routes {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not in docs/api.yaml", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routes, d) {
			t.Errorf("docs/api.yaml has %s, which routes.go does not serve", d)
		}
	}
	for _, ref := range strings.Split(string(data), "#/components/schemas/")[1:] {
		name := ref[:strings.IndexAny(ref, "'\"")]
		if _, ok := doc.Components.Schemas[name]; !ok {
			t.Errorf("schema %s is referenced but not defined", name)
		}
	}
}
