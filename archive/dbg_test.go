package archive

import (
	"bytes"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"testing"
	"time"
)

func TestDbgMutate(t *testing.T) {
	_, small := smallArchive(t)
	c := makeContent(14, 1, 0)
	c.folders[0].Messages = []Message{c.blob([]byte("x"), 1, 0)}
	one, _ := writeArchive(t, c, WriterOptions{FrameSize: 16})
	seeds := [][]byte{small, one}
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range 200000 {
		b := bytes.Clone(seeds[i%2])
		for range 1 + rng.IntN(4) {
			switch rng.IntN(3) {
			case 0:
				b[rng.IntN(len(b))] = byte(rng.Uint32())
			case 1:
				b[rng.IntN(len(b))] ^= 1 << rng.IntN(8)
			case 2:
				p := rng.IntN(len(b))
				b = append(b[:p], append([]byte{byte(rng.Uint32())}, b[p:]...)...)
			}
		}
		done := make(chan struct{})
		go func() {
			select {
			case <-done:
			case <-time.After(3 * time.Second):
				os.WriteFile("/tmp/hang.bin", b, 0o644)
				pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
				os.Exit(3)
			}
		}()
		readStream(bytes.NewReader(b))
		readAll(b)
		close(done)
	}
}
