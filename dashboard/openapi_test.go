package dashboard

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/operations"
	"github.com/tidwall/buntdb"
)

type openAPIDoc struct {
	Paths map[string]map[string]json.RawMessage `json:"paths"`
}

type operation struct {
	Security  *[]map[string]any `json:"security"`
	Responses map[string]any    `json:"responses"`
}

func apiServer(t *testing.T) *Server {
	t.Helper()
	db, err := buntdb.Open(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	accounts, err := devices.Open(db, devices.Options{Domain: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	geo, err := geoloc.OpenStore(db, geoloc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := operations.OpenTokens(db, accounts)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Accounts: accounts, Geo: geo, Tokens: tokens, DB: db, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); accounts.Close(); db.Close() })
	return s
}

var echoParam = regexp.MustCompile(`:([a-z]+)`)

// TestOpenAPIDescribesEveryRoute checks the document against the routes
// echo registered, both ways, methods included, and that what it says
// needs no login indeed needs none.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	s := apiServer(t)
	var doc openAPIDoc
	if err := json.Unmarshal(openAPIJSON, &doc); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for method := range item {
			if method != "parameters" {
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	registered := map[string]bool{}
	for _, r := range s.e.Routes() {
		// The catch-alls: the UI's files, and the JSON 404 for /api.
		if r.Path == "/*" || r.Path == "/api/*" {
			continue
		}
		registered[r.Method+" "+echoParam.ReplaceAllString(r.Path, "{$1}")] = true
	}
	for k := range registered {
		if !documented[k] {
			t.Errorf("route %s is not in openapi.yaml", k)
		}
	}
	for k := range documented {
		if !registered[k] {
			t.Errorf("openapi.yaml documents %s, which is not a route", k)
		}
	}
	if len(registered) < 25 {
		t.Errorf("only %d routes: the API was not registered", len(registered))
	}

	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	for k := range documented {
		method, path, _ := strings.Cut(k, " ")
		var op operation
		if err := json.Unmarshal(doc.Paths[path][strings.ToLower(method)], &op); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if !slices.ContainsFunc(mapKeys(op.Responses), func(c string) bool { return c[0] == '2' }) {
			t.Errorf("%s documents no success answer", k)
		}
		public := op.Security != nil && len(*op.Security) == 0
		if !public && op.Responses["401"] == nil {
			t.Errorf("%s needs a login but documents no 401", k)
		}
		req, _ := http.NewRequest(method, srv.URL+strings.NewReplacer("{name}", "x", "{id}", "x").Replace(path), nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if public == (res.StatusCode == 401) {
			t.Errorf("%s: anonymous request got %d, but the document says public=%v", k, res.StatusCode, public)
		}
	}
}

func mapKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestOpenAPIReferencesResolve walks the document for $refs that point
// nowhere.
func TestOpenAPIReferencesResolve(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(openAPIJSON, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["openapi"] != "3.0.3" {
		t.Errorf("openapi version %v", doc["openapi"])
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if k == "$ref" {
					ref := e.(string)
					var at any = doc
					for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
						m, _ := at.(map[string]any)
						at = m[part]
					}
					if at == nil {
						t.Errorf("$ref %s resolves to nothing", ref)
					}
					continue
				}
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(doc)
}
