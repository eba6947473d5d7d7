package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// The snapshot format, version 1. All integers are little-endian; uvarint
// and varint are encoding/binary's (varint zig-zag encoded).
//
//	snapshot = magic version block...
//	magic    = "PRESNAP" 0x00                      8 bytes
//	version  = uint32                              1
//	block    = length:uint32 crc:uint32 payload    length bytes of payload, at most 1 MiB
//
// crc is the CRC-32C (Castagnoli) of the block's index (uint32, the first
// block is 0) followed by its payload: a block that is damaged, missing,
// repeated or out of place fails its check. A writer cuts the payload
// stream into blocks anywhere (this one every 64 KiB); the records below run
// across block boundaries.
//
// The payload stream is a sequence of records, each starting with a tag byte:
//
//	'H' base:varint                                the wall clock when the snapshot began
//	                                               (Unix ns); deadlines are relative to it
//	'S' name:string                                a sub key; the records up to the next
//	                                               'S' belong to it
//	'C' name:string member... 0 mode               a channel of the current sub key
//	    member = ref:uvarint deadline:varint state:string
//	        ref 1: a uuid named here, string follows; the uuids named in a
//	               sub key are numbered 0, 1, ... in order
//	        ref k >= 2: the uuid numbered k-2
//	        deadline: ns after base (negative: already passed)
//	        state: the member's compact JSON state, empty for none
//	    mode = 0                                   announce mode
//	         | 1 adds:uvarint overflowed:byte joined:list left:list timedout:list
//	                                               interval mode, with the deltas pending
//	    list = count:uvarint string...
//	'G' name:string count:uvarint string...       a channel group of the current sub key
//	'E' subkeys channels members groups:uvarint
//	    timetoken:varint end:varint               the end: the counts of the records
//	                                               above, the last timetoken issued, and
//	                                               the wall clock when the snapshot ended
//
//	string = length:uvarint bytes
//
// The end record is last: nothing may follow it, in its block or after.

// snapshotMagic opens every snapshot.
const snapshotMagic = "PRESNAP\x00"

// SnapshotVersion is the version of the snapshot format that Snapshot writes
// and Restore reads.
const SnapshotVersion = 1

const (
	// snapBlockSize is the payload of every block but the last.
	snapBlockSize = 64 << 10
	// snapMaxBlock bounds the payload a reader accepts in one block.
	snapMaxBlock = 1 << 20
	// snapHeaderLen is the length of magic and version.
	snapHeaderLen = len(snapshotMagic) + 4
	// snapMaxName bounds a sub key, channel, group or uuid name: the longest
	// valid one, 92 characters of up to 4 bytes (sub keys 256 bytes), fits.
	snapMaxName = 1024
)

// Record tags.
const (
	tagHeader  = 'H'
	tagSubKey  = 'S'
	tagChannel = 'C'
	tagGroup   = 'G'
	tagEnd     = 'E'
)

// Member references (see the format above).
const (
	refEnd     = 0
	refNamed   = 1
	refNumbers = 2 // ref k >= refNumbers is uuid number k-refNumbers
)

// Channel modes.
const (
	modeAnnounce = 0
	modeInterval = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// blockCRC returns the checksum of block number seq with payload p.
func blockCRC(seq uint32, p []byte) uint32 {
	var s [4]byte
	binary.LittleEndian.PutUint32(s[:], seq)
	return crc32.Update(crc32.Checksum(s[:], castagnoli), castagnoli, p)
}

// snapWriter encodes records into blocks on w. The first write error sticks:
// later calls do nothing, and flush returns it.
type snapWriter struct {
	w   io.Writer
	buf []byte
	hdr [8]byte // a block's header; here, so that w.Write does not make it escape
	seq uint32
	n   int64 // bytes written to w
	err error
}

func newSnapWriter(w io.Writer) *snapWriter {
	sw := &snapWriter{w: w, buf: make([]byte, 0, snapBlockSize+1024)}
	var hdr [snapHeaderLen]byte
	copy(hdr[:], snapshotMagic)
	binary.LittleEndian.PutUint32(hdr[len(snapshotMagic):], SnapshotVersion)
	sw.write(hdr[:])
	return sw
}

func (sw *snapWriter) write(p []byte) {
	if sw.err != nil {
		return
	}
	n, err := sw.w.Write(p)
	sw.n += int64(n)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	sw.err = err
}

// spill writes out the full blocks of buf, keeping the rest.
func (sw *snapWriter) spill() {
	if len(sw.buf) < snapBlockSize {
		return
	}
	done := 0
	for len(sw.buf)-done >= snapBlockSize {
		sw.block(sw.buf[done : done+snapBlockSize])
		done += snapBlockSize
	}
	sw.buf = sw.buf[:copy(sw.buf, sw.buf[done:])]
}

// block writes one block with payload p.
func (sw *snapWriter) block(p []byte) {
	binary.LittleEndian.PutUint32(sw.hdr[:4], uint32(len(p)))
	binary.LittleEndian.PutUint32(sw.hdr[4:], blockCRC(sw.seq, p))
	sw.seq++
	sw.write(sw.hdr[:])
	sw.write(p)
}

// flush writes out what is buffered as a last block and returns the first
// error.
func (sw *snapWriter) flush() error {
	sw.spill()
	if len(sw.buf) > 0 {
		sw.block(sw.buf)
		sw.buf = sw.buf[:0]
	}
	return sw.err
}

func (sw *snapWriter) byte(b byte) {
	sw.buf = append(sw.buf, b)
}

func (sw *snapWriter) uvarint(v uint64) {
	sw.buf = binary.AppendUvarint(sw.buf, v)
}

func (sw *snapWriter) varint(v int64) {
	sw.buf = binary.AppendVarint(sw.buf, v)
}

func (sw *snapWriter) string(s string) {
	sw.buf = binary.AppendUvarint(sw.buf, uint64(len(s)))
	sw.buf = append(sw.buf, s...)
	sw.spill() // a large state must not grow the buffer past a block or two
}

func (sw *snapWriter) bytes(b []byte) {
	sw.buf = binary.AppendUvarint(sw.buf, uint64(len(b)))
	sw.buf = append(sw.buf, b...)
	sw.spill()
}

// snapReader decodes the payload stream of a snapshot, block by block,
// checking each block before it hands out any of its bytes.
//
// Its errors name what is wrong and where: those of the format wrap
// ErrSnapshotCorrupt, ErrSnapshotTruncated or ErrSnapshotVersion; an error of
// the underlying reader is returned wrapped as it is.
type snapReader struct {
	r       io.Reader
	blk     []byte // the current block's payload
	i       int    // read position in blk
	seq     uint32 // index of the next block
	off     int64  // offset in the input of the end of the current block
	blkOff  int64  // offset in the input of the current block's header
	scratch []byte // values that run across blocks
}

func newSnapReader(r io.Reader) (*snapReader, error) {
	sr := &snapReader{r: r}
	var hdr [snapHeaderLen]byte
	n, err := io.ReadFull(r, hdr[:])
	sr.off = int64(n)
	switch {
	case err == io.EOF:
		return nil, fmt.Errorf("%w: the input is empty", ErrSnapshotTruncated)
	case err == io.ErrUnexpectedEOF && string(hdr[:min(n, len(snapshotMagic))]) != snapshotMagic[:min(n, len(snapshotMagic))]:
		return nil, fmt.Errorf("%w: not a presence snapshot (it starts %q, not %q)", ErrSnapshotCorrupt, hdr[:min(n, len(snapshotMagic))], snapshotMagic)
	case err == io.ErrUnexpectedEOF:
		return nil, fmt.Errorf("%w: the input ends at byte %d, inside the %d-byte header", ErrSnapshotTruncated, n, snapHeaderLen)
	case err != nil:
		return nil, fmt.Errorf("reading the snapshot header: %w", err)
	}
	if string(hdr[:len(snapshotMagic)]) != snapshotMagic {
		return nil, fmt.Errorf("%w: not a presence snapshot (it starts %q, not %q)", ErrSnapshotCorrupt, hdr[:len(snapshotMagic)], snapshotMagic)
	}
	if v := binary.LittleEndian.Uint32(hdr[len(snapshotMagic):]); v != SnapshotVersion {
		return nil, fmt.Errorf("%w: the snapshot is version %d, this build reads version %d", ErrSnapshotVersion, v, SnapshotVersion)
	}
	return sr, nil
}

// where describes the read position for an error message.
func (sr *snapReader) where() string {
	if sr.seq == 0 {
		return fmt.Sprintf("at byte %d", sr.off)
	}
	return fmt.Sprintf("at byte %d (block %d)", sr.off-int64(len(sr.blk))+int64(sr.i), sr.seq-1)
}

// corrupt returns an error wrapping ErrSnapshotCorrupt at the read position,
// and whatever format wraps with %w.
func (sr *snapReader) corrupt(format string, args ...any) error {
	return fmt.Errorf("%w %s: "+format, append([]any{ErrSnapshotCorrupt, sr.where()}, args...)...)
}

// next reads and checks the next block.
func (sr *snapReader) next() error {
	var hdr [8]byte
	sr.blkOff = sr.off
	n, err := io.ReadFull(sr.r, hdr[:])
	sr.off += int64(n)
	switch {
	case err == io.EOF:
		return fmt.Errorf("%w: the input ends at byte %d, after %d blocks, before the end record", ErrSnapshotTruncated, sr.off, sr.seq)
	case err == io.ErrUnexpectedEOF:
		return fmt.Errorf("%w: the input ends at byte %d, inside the header of block %d", ErrSnapshotTruncated, sr.off, sr.seq)
	case err != nil:
		return fmt.Errorf("reading block %d of the snapshot: %w", sr.seq, err)
	}
	length := binary.LittleEndian.Uint32(hdr[:4])
	sum := binary.LittleEndian.Uint32(hdr[4:])
	if length == 0 || length > snapMaxBlock {
		return fmt.Errorf("%w: block %d (at byte %d) claims %d bytes, not 1 to %d", ErrSnapshotCorrupt, sr.seq, sr.blkOff, length, snapMaxBlock)
	}
	if cap(sr.blk) < int(length) {
		sr.blk = make([]byte, length, max(int(length), snapBlockSize))
	}
	sr.blk = sr.blk[:length]
	n, err = io.ReadFull(sr.r, sr.blk)
	sr.off += int64(n)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return fmt.Errorf("%w: the input ends at byte %d, inside block %d (at byte %d, %d bytes long)", ErrSnapshotTruncated, sr.off, sr.seq, sr.blkOff, length)
	case err != nil:
		return fmt.Errorf("reading block %d of the snapshot: %w", sr.seq, err)
	}
	if got := blockCRC(sr.seq, sr.blk); got != sum {
		return fmt.Errorf("%w: block %d (at byte %d, %d bytes) fails its checksum (%08x, computed %08x)", ErrSnapshotCorrupt, sr.seq, sr.blkOff, length, sum, got)
	}
	sr.seq++
	sr.i = 0
	return nil
}

func (sr *snapReader) byte() (byte, error) {
	if sr.i == len(sr.blk) {
		if err := sr.next(); err != nil {
			return 0, err
		}
	}
	b := sr.blk[sr.i]
	sr.i++
	return b, nil
}

func (sr *snapReader) uvarint() (uint64, error) {
	if len(sr.blk)-sr.i >= binary.MaxVarintLen64 { // the common case: all in this block
		v, n := binary.Uvarint(sr.blk[sr.i:])
		if n <= 0 {
			return 0, sr.corrupt("malformed varint")
		}
		sr.i += n
		return v, nil
	}
	var v uint64
	for shift := uint(0); ; shift += 7 {
		b, err := sr.byte()
		if err != nil {
			return 0, err
		}
		if shift == 63 && b > 1 {
			return 0, sr.corrupt("malformed varint")
		}
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return v, nil
		}
	}
}

func (sr *snapReader) varint() (int64, error) {
	u, err := sr.uvarint()
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v, err
}

// count reads a uvarint that counts something, at most limit.
func (sr *snapReader) count(what string, limit int) (int, error) {
	v, err := sr.uvarint()
	if err != nil {
		return 0, err
	}
	if v > uint64(limit) {
		return 0, sr.corrupt("%s %d is above %d", what, v, limit)
	}
	return int(v), nil
}

// take returns the next n bytes, valid until the next call.
func (sr *snapReader) take(n int) ([]byte, error) {
	if len(sr.blk)-sr.i >= n {
		b := sr.blk[sr.i : sr.i+n]
		sr.i += n
		return b, nil
	}
	sr.scratch = sr.scratch[:0]
	for len(sr.scratch) < n {
		if sr.i == len(sr.blk) {
			if err := sr.next(); err != nil {
				return nil, err
			}
		}
		k := min(n-len(sr.scratch), len(sr.blk)-sr.i)
		sr.scratch = append(sr.scratch, sr.blk[sr.i:sr.i+k]...)
		sr.i += k
	}
	return sr.scratch, nil
}

// bytes reads a string of at most limit bytes, valid until the next call.
// tooLong, if not nil, makes the error of a longer one.
func (sr *snapReader) bytes(what string, limit int, tooLong func(n uint64) error) ([]byte, error) {
	n, err := sr.uvarint()
	if err != nil {
		return nil, err
	}
	if n > uint64(limit) {
		if tooLong != nil {
			return nil, tooLong(n)
		}
		return nil, sr.corrupt("%s of %d bytes, at most %d", what, n, limit)
	}
	return sr.take(int(n))
}

// name reads a name and returns it as a string of its own.
func (sr *snapReader) name(what string) (string, error) {
	b, err := sr.bytes(what, snapMaxName, nil)
	return string(b), err
}

// end checks that nothing follows the end record.
func (sr *snapReader) end() error {
	if sr.i != len(sr.blk) {
		return sr.corrupt("%d bytes follow the end record", len(sr.blk)-sr.i)
	}
	var b [1]byte
	n, err := io.ReadFull(sr.r, b[:])
	switch {
	case n > 0:
		return fmt.Errorf("%w: data follows the end record at byte %d", ErrSnapshotCorrupt, sr.off)
	case errors.Is(err, io.EOF):
		return nil
	default:
		return fmt.Errorf("reading past the end of the snapshot: %w", err)
	}
}
