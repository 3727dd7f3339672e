// Package history keeps trail points on disk, compressed, so that the
// hub's memory does not grow with how much history it keeps.
//
// BuntDB stays the write-ahead log: a fix is durable there, in the group
// commit that acknowledges it. A sealer (in geoloc) moves points older
// than a few seconds from BuntDB into this store in one bbolt transaction
// per round, then deletes them from BuntDB; a crash in between leaves a
// point in both places, and sealing it again changes nothing, because a
// block merges points by time.
//
// The store is one bbolt file: a bucket per device, holding blocks keyed
// by the time of their first point (milliseconds, big-endian, so keys sort
// by time). A block is a few hundred points encoded column by column (see
// block.go), about 10 bytes a point. bbolt (pure Go, one file, mmap,
// copy-on-write transactions) rather than an LSM tree such as Pebble: the
// blocks are compressed here already, so an LSM's own compression and
// compaction would add a large dependency for little gain, and bbolt
// opens a file of any size at once, so a restart does not depend on how
// much history is kept.
package history
