package bridge

import "sync"

// Frame buffers are pooled: a frame is built into one, handed to the
// writer, written, and returned, so that a busy socket allocates no buffer
// per frame and an idle one holds none.

const (
	bufSize = 1 << 10
	// maxPooledBuf keeps rare huge frames (a full GetHistory page, say) from
	// pinning their memory in the pool.
	maxPooledBuf = 128 << 10
)

var bufPool = sync.Pool{New: func() any {
	b := make([]byte, 0, bufSize)
	return &b
}}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > maxPooledBuf {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}
