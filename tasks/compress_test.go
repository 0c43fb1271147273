package tasks

import (
	"bytes"
	"math/rand/v2"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// compressible returns n bytes of JSON-like text.
func compressible(r *rand.Rand, n int) []byte {
	words := []string{`{"text":"`, "Hello ", "your order ", "ships ", "tomorrow. ", `","to":[{"handle":"`, "ana@example.com", `"}]`, "é", "日本", "\\n"}
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
	}
	return b.Bytes()[:n]
}

func TestCompressRoundTrips(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 600)
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	cases := map[string][]byte{
		"short, kept as is":      compressible(r, compressAbove-1),
		"smallest compressed":    compressible(r, compressAbove),
		"a short message":        compressible(r, 400),
		"largest literals frame": compressible(r, maxLiteralsFrame),
		"smallest full zstd":     compressible(r, maxLiteralsFrame+1),
		"an HTML email":          compressible(r, 20_000),
		"one byte repeated":      bytes.Repeat([]byte{'a'}, 500),
		"incompressible":         random,
		"two symbols":            []byte(strings.Repeat("ab", 300)),
	}
	for name, plain := range cases {
		z := compress(plain)
		got, err := decompress(z)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("%s: round trip of %d bytes through %d: %v", name, len(plain), len(z), err)
		}
		if len(z) > len(plain) {
			t.Errorf("%s: %d bytes compressed to %d", name, len(plain), len(z))
		}
	}
	for _, name := range []string{"a short message", "largest literals frame", "an HTML email"} {
		if z := compress(cases[name]); !bytes.HasPrefix(z, zstdMagic) || len(z) > len(cases[name])*3/4 {
			t.Errorf("%s: %d bytes compressed to %d", name, len(cases[name]), len(z))
		}
	}
}

// The literals frame is plain zstd: the reference tool reads it.
func TestLiteralsFrameIsZstd(t *testing.T) {
	zstdTool, err := exec.LookPath("zstd")
	if err != nil {
		t.Skip("no zstd tool installed")
	}
	plain := compressible(rand.New(rand.NewPCG(3, 4)), 700)
	cmd := exec.Command(zstdTool, "-d", "-c")
	cmd.Stdin = bytes.NewReader(literalsFrame(plain))
	got, err := cmd.Output()
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("zstd -d: %v; got %d bytes, want %d", err, len(got), len(plain))
	}
}

// TestDecompressFromManyGoroutines decompresses payloads from more
// goroutines than there are decoders, as a worker's tasks do.
func TestDecompressFromManyGoroutines(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	plains := make([][]byte, 64)
	for i := range plains {
		plains[i] = compressible(r, 300+i*20)
	}
	var wg sync.WaitGroup
	for _, plain := range plains {
		wg.Go(func() {
			for range 50 {
				if got, err := decompress(compress(plain)); err != nil || !bytes.Equal(got, plain) {
					t.Errorf("round trip of %d bytes: %v", len(plain), err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkDecompressOnANewGoroutine decompresses a short message on a
// new goroutine each time, as the worker does for each task: "in place"
// on the goroutine itself, whose stack zstd's table reader makes grow,
// and "pooled" through decompress's long-lived goroutines.
func BenchmarkDecompressOnANewGoroutine(b *testing.B) {
	z := compress(compressible(rand.New(rand.NewPCG(5, 6)), 400))
	for _, c := range []struct {
		name string
		f    func([]byte) ([]byte, error)
	}{
		{"in place", func(z []byte) ([]byte, error) { return decompressor.DecodeAll(z, nil) }},
		{"pooled", decompress},
	} {
		b.Run(c.name, func(b *testing.B) {
			done := make(chan error)
			for b.Loop() {
				go func() {
					_, err := c.f(z)
					done <- err
				}()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
