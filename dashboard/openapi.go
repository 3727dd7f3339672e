package dashboard

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
	"go.yaml.in/yaml/v3"
)

// The OpenAPI 3 description of the API is written by hand in openapi.yaml,
// next to this file, and served as JSON. A test checks it against the
// routes echo has registered, both ways, methods included.
//
//go:embed openapi.yaml
var openAPIYAML []byte

// openAPIJSON is openapi.yaml as JSON, made once.
var openAPIJSON = func() []byte {
	var doc map[string]any
	if err := yaml.Unmarshal(openAPIYAML, &doc); err != nil {
		panic(fmt.Sprintf("dashboard/openapi.yaml: %v", err))
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic(fmt.Sprintf("dashboard/openapi.yaml: %v", err))
	}
	return b
}()

func serveOpenAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/json", openAPIJSON)
}
