package tasks

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"

	"github.com/klauspost/compress/huff0"
	"github.com/klauspost/compress/zstd"
)

// Payloads of compressAbove bytes or more are kept zstd-compressed in
// Redis when that makes them smaller: a 20 KB HTML email takes a fifth of
// its size, a short message a quarter less. JSON starts with '{', zstd with
// its magic number.
const compressAbove = 256

// Up to maxLiteralsFrame bytes, a payload is compressed as a zstd frame
// of Huffman-coded literals alone: that takes a third of the time of
// zstd's own encoder, which builds the tables of a full block for a few
// hundred bytes, and is as small, as short messages rarely repeat
// themselves. The limit is what a literals section of one stream holds.
const maxLiteralsFrame = 1023

var (
	compressor, _   = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithLowerEncoderMem(true))
	decompressor, _ = zstd.NewReader(nil, zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxMemory(64<<20))
	zstdMagic       = []byte{0x28, 0xb5, 0x2f, 0xfd}
	huffScratch     = sync.Pool{New: func() any { return &huff0.Scratch{Reuse: huff0.ReusePolicyNone} }}
)

// compress returns b compressed, or b when compressing does not pay.
func compress(b []byte) []byte {
	if len(b) < compressAbove {
		return b
	}
	var z []byte
	if len(b) <= maxLiteralsFrame {
		z = literalsFrame(b)
	} else {
		z = compressor.EncodeAll(b, make([]byte, 0, len(b)/2))
	}
	if z == nil || len(z) >= len(b) {
		return b
	}
	return z
}

// literalsFrame returns b, of compressAbove to maxLiteralsFrame bytes, as
// a zstd frame (RFC 8878) of one block whose literals are Huffman-coded in
// one stream and which has no sequences; nil when b does not compress.
func literalsFrame(b []byte) []byte {
	s := huffScratch.Get().(*huff0.Scratch)
	defer huffScratch.Put(s)
	lit, _, err := huff0.Compress1X(b, s)
	if err != nil || len(lit) > maxLiteralsFrame {
		return nil // incompressible, or a single repeated byte
	}
	blockSize := 3 + len(lit) + 1 // literals header, literals, sequences header
	f := make([]byte, 0, 4+1+2+3+blockSize)
	f = append(f, zstdMagic...)
	// Frame header: a single segment whose 2-byte content size is len(b)-256.
	f = append(f, 1<<6|1<<5)
	f = binary.LittleEndian.AppendUint16(f, uint16(len(b)-256))
	// Block header: the last block, compressed.
	f = appendUint24(f, uint32(blockSize)<<3|2<<1|1)
	// Literals section header: compressed, one stream, 10-bit sizes.
	f = appendUint24(f, uint32(len(lit))<<14|uint32(len(b))<<4|2)
	f = append(f, lit...)
	return append(f, 0) // no sequences
}

func appendUint24(b []byte, v uint32) []byte { return append(b, byte(v), byte(v>>8), byte(v>>16)) }

func decompress(data []byte) ([]byte, error) {
	if !bytes.HasPrefix(data, zstdMagic) {
		return data, nil
	}
	d := <-decoders
	plain, err := d.decode(data)
	decoders <- d
	if err != nil {
		return nil, fmt.Errorf("decompressing the payload: %w", err)
	}
	return plain, nil
}

// A payload is decompressed on one of a few long-lived goroutines, not on
// the caller's: zstd reads a literals table in a deep stack frame, and the
// worker calls decompress on a new goroutine for every task, which copied
// its stack to a larger one each time (half the time decompress took, in
// the worker's CPU profile). The goroutines decode one payload at a time,
// as many at once as there are CPUs.
var decoders = func() chan *decoder {
	n := runtime.GOMAXPROCS(0)
	c := make(chan *decoder, n)
	for range n {
		d := &decoder{in: make(chan []byte), out: make(chan decoded)}
		go d.serve()
		c <- d
	}
	return c
}()

type decoder struct {
	in  chan []byte
	out chan decoded
}

type decoded struct {
	plain []byte
	err   error
}

func (d *decoder) serve() {
	for data := range d.in {
		plain, err := decompressor.DecodeAll(data, nil)
		d.out <- decoded{plain, err}
	}
}

func (d *decoder) decode(data []byte) ([]byte, error) {
	d.in <- data
	r := <-d.out
	return r.plain, r.err
}
