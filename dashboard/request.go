package dashboard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// readBody reads at most limit bytes of the request body, or answers 400
// (or 413 when it is longer).
func readBody(c echo.Context, limit int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, limit))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, apiError(http.StatusRequestEntityTooLarge, "body larger than %d bytes", limit)
	case err != nil:
		return nil, apiError(http.StatusBadRequest, "reading the body: %v", err)
	}
	return b, nil
}

// decodeBody decodes a JSON object into v, refusing unknown fields, and
// answers 400 with what is wrong and where.
func decodeBody(c echo.Context, v any, limit int64) error {
	b, err := readBody(c, limit)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return apiError(http.StatusBadRequest, "empty body: send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return apiError(http.StatusBadRequest, "body: %s", jsonProblem(err))
	}
	if dec.More() {
		return apiError(http.StatusBadRequest, "body: more than one JSON value")
	}
	return nil
}

// jsonProblem says what encoding/json found wrong, in words.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("not valid JSON at byte %d: %v", syn.Offset, err)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("field %q must be %s, not %s", typ.Field, jsonType(typ.Type.Kind().String()), typ.Value)
		}
		return fmt.Sprintf("want a JSON object, not %s", typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return "unknown field " + f
	}
	return err.Error()
}

func jsonType(kind string) string {
	switch kind {
	case "slice", "array":
		return "a list"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "struct", "map":
		return "an object"
	case "ptr":
		return "a value"
	}
	return "a number"
}

// query reads the query parameters of a request, collecting the first
// problem for a 400 that names the parameter.
type query struct {
	c   echo.Context
	err error
}

func (q *query) fail(name, format string, args ...any) {
	if q.err == nil {
		q.err = apiError(http.StatusBadRequest, "%s: %s", name, fmt.Sprintf(format, args...))
	}
}

func (q *query) has(name string) bool { return q.c.QueryParams().Has(name) }

func (q *query) str(name string) string { return strings.TrimSpace(q.c.QueryParam(name)) }

// float reads a finite number in [lo, hi]; def when absent.
func (q *query) float(name string, def, lo, hi float64) float64 {
	s := q.str(name)
	if s == "" {
		return def
	}
	v, err := strconv.ParseFloat(s, 64)
	switch {
	case err != nil || math.IsNaN(v) || math.IsInf(v, 0):
		q.fail(name, "%q is not a number", s)
	case v < lo || v > hi:
		q.fail(name, "%v is out of range [%v, %v]", v, lo, hi)
	}
	return v
}

// required is float for a parameter that must be given.
func (q *query) required(name string, lo, hi float64) float64 {
	if q.str(name) == "" {
		q.fail(name, "required")
		return 0
	}
	return q.float(name, 0, lo, hi)
}

func (q *query) int(name string, def, lo, hi int) int {
	s := q.str(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	switch {
	case err != nil:
		q.fail(name, "%q is not a whole number", s)
	case v < lo || v > hi:
		q.fail(name, "%d is out of range [%d, %d]", v, lo, hi)
	}
	return v
}

// time reads an RFC 3339 time; def when absent.
func (q *query) time(name string, def time.Time) time.Time {
	s := q.str(name)
	if s == "" {
		return def
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		q.fail(name, "%q is not an RFC 3339 time such as 2025-01-31T14:00:00Z", s)
	}
	return t
}

// bool reads true or false; nil when absent.
func (q *query) bool(name string) *bool {
	s := q.str(name)
	if s == "" {
		return nil
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		q.fail(name, "%q: want true or false", s)
		return nil
	}
	return &v
}

// timeRange reads from and to, by default the last 24 hours, and checks
// their order.
func (q *query) timeRange() (from, to time.Time) {
	now := time.Now()
	to = q.time("to", now)
	from = q.time("from", to.Add(-24*time.Hour))
	if q.err == nil && from.After(to) {
		q.fail("from", "%s is after to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	return from, to
}
