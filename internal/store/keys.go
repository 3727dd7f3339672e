package store

// AppendPadded appends n as digits decimal digits, zero-padded, as %0*d
// does for a number that fits: numbers in keys written so sort in BuntDB
// as the numbers do. Without fmt, as every fix, reading and item has a
// key.
func AppendPadded(b []byte, n uint64, digits int) []byte {
	start := len(b)
	for range digits {
		b = append(b, '0')
	}
	for i := len(b) - 1; i >= start; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return b
}
