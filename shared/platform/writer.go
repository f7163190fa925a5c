package platform

import (
	"bytes"
	"net/http"
	"sync"
)

// bufferedWriter holds a handler's response until the request's transaction
// has committed, so a client never sees success for a change that was rolled
// back. Streaming routes bypass it.
type bufferedWriter struct {
	header http.Header
	status int
	body   *bytes.Buffer
}

// Canonical header names the pipeline sets on every response, assigned
// directly to skip canonicalising them per request.
var (
	headerRequestID    = http.CanonicalHeaderKey("X-Request-ID")
	headerResponseTime = http.CanonicalHeaderKey("X-Response-Time")
)

// maxPooledBody is the largest body buffer kept for reuse. A larger one is
// left to the garbage collector, so one big response does not pin memory.
const maxPooledBody = 64 << 10

var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func newBufferedWriter() *bufferedWriter {
	b := bodyPool.Get().(*bytes.Buffer)
	b.Reset()
	return &bufferedWriter{header: http.Header{}, body: b}
}

// release returns the body buffer to the pool once the response is sent.
func (b *bufferedWriter) release() {
	if b.body.Cap() <= maxPooledBody {
		bodyPool.Put(b.body)
	}
	b.body = nil
}

func (b *bufferedWriter) Header() http.Header { return b.header }

func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

func (b *bufferedWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

// countingWriter counts the bytes and status of a streamed response.
type countingWriter struct {
	http.ResponseWriter
	status   int
	written  int64
	onHeader func(http.Header)
}

func (c *countingWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
		if c.onHeader != nil {
			c.onHeader(c.Header())
		}
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	n, err := c.ResponseWriter.Write(p)
	c.written += int64(n)
	return n, err
}

// Flush lets streaming handlers push server-sent events through.
func (c *countingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
