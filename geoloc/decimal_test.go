package geoloc

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// parseDecimal agrees with strconv.ParseFloat bit for bit, on the short
// decimals it converts itself and on everything it hands over.
func TestParseDecimalAgreesWithStrconv(t *testing.T) {
	cases := []string{"0", "-0", "52.516275", "-13.377704", "+1.5", "180", "-90.0", ".5", "5.", "0.000000000000001",
		"123456789012345", "1234567890123456", "0.1", "0.3", "1e3", "5.2E1", "inf", "NaN", "", "-", ".", "1.2.3", "12a", "0x10",
		"179.99999999999999999999", "1_000"}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		cases = append(cases, strconv.FormatFloat(r.Float64()*360-180, 'f', r.IntN(16), 64))
	}
	for _, s := range cases {
		got, gerr := parseDecimal(s)
		want, werr := strconv.ParseFloat(s, 64)
		if (gerr == nil) != (werr == nil) || math.Float64bits(got) != math.Float64bits(want) && !(math.IsNaN(got) && math.IsNaN(want)) {
			t.Errorf("parseDecimal(%q) = %v, %v; strconv: %v, %v", s, got, gerr, want, werr)
		}
	}
}
