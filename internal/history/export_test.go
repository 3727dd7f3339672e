package history

// AppendBlock encodes a block, for the benchmarks.
var AppendBlock = appendBlock
