package geoloc

import "strconv"

// pow10 are the powers of ten a float64 holds exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseDecimal parses a number as strconv.ParseFloat does. Coordinates,
// speeds and bearings are short plain decimals ("52.516275"): those are
// converted here exactly (digits below 2^53 divided by a power of ten that
// a float64 holds, one correctly rounded division), without
// strconv's large stack frame, which made every session's goroutine grow
// its stack again after each garbage collection had shrunk it.
func parseDecimal(s string) (float64, error) {
	i, neg := 0, false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	var m uint64
	digits, frac, dot := 0, 0, false
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			m = m*10 + uint64(c-'0')
			digits++
			if dot {
				frac++
			}
			if digits > 15 || frac >= len(pow10) {
				return strconv.ParseFloat(s, 64)
			}
		case c == '.' && !dot:
			dot = true
		default:
			return strconv.ParseFloat(s, 64)
		}
	}
	if digits == 0 {
		return strconv.ParseFloat(s, 64) // its error
	}
	v := float64(m) / pow10[frac]
	if neg {
		v = -v
	}
	return v, nil
}
