package usage

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/booga-enterprise/functions/shared/ids"
)

// Defaults of RecorderOptions; they match the defaults in shared/config.
const (
	DefaultBufferSize    = 10_000
	DefaultBatchSize     = 500
	DefaultFlushInterval = 200 * time.Millisecond
	DefaultStreamMaxLen  = 100_000
)

// flushTimeout bounds one flush, Redis and PostgreSQL fallback together.
const flushTimeout = 10 * time.Second

// maxKeptEncoding is the largest encoding buffer kept between flushes; a
// larger one, from a backlog, is left to the garbage collector.
const maxKeptEncoding = 4 << 20

// warnEvery is the minimum time between two warnings of the same kind.
const warnEvery = 30 * time.Second

// batchField is the field of a stream entry whose value is a JSON array of
// records: one entry per flushed batch, so Redis runs one command per batch
// rather than one per request.
const batchField = "b"

// streamField is the field of an entry with one record, as written before
// batches; Drain still reads it.
const streamField = "r"

// RecorderOptions configures a Recorder. Zero fields take the defaults above.
type RecorderOptions struct {
	Stream        string
	BufferSize    int           // records held in memory before Record drops
	BatchSize     int           // records per flush
	FlushInterval time.Duration // interval between flushes of a partial batch
	StreamMaxLen  int64         // approximate cap of the stream (XADD MAXLEN ~)
	Logger        *slog.Logger
	// Clock returns the current time; time.Now when nil. It stamps records
	// without OccurredAt and spaces out warnings.
	Clock func() time.Time
}

// Recorder buffers usage records and writes them in batches to a Redis
// stream, or straight to PostgreSQL when Redis fails. It is safe for
// concurrent use.
type Recorder struct {
	rdb      redis.UniversalClient
	pool     *pgxpool.Pool
	stream   string
	batch    int
	interval time.Duration
	maxLen   int64
	log      *slog.Logger
	now      func() time.Time

	// mu guards pending and closed. Record appends under it and the loop
	// swaps pending out, so a request never wakes the loop for one record.
	mu      sync.Mutex
	closed  bool
	pending []Record
	full    chan struct{} // signalled when pending reaches a batch
	stop    chan struct{}
	done    chan struct{}

	dropped     atomic.Int64
	dropWarn    warnLimiter
	streamWarn  warnLimiter
	unsaved     []Record // batches neither Redis nor PostgreSQL accepted; retried on the next flush
	bufferLimit int
	encoded     []byte // the flush loop's encoding buffer, reused between flushes
}

// NewRecorder starts a recorder whose loop runs until Close. pool receives
// batches directly while Redis is unreachable.
func NewRecorder(rdb redis.UniversalClient, pool *pgxpool.Pool, opts RecorderOptions) *Recorder {
	r := newRecorder(rdb, pool, opts)
	go r.run()
	return r
}

// newRecorder returns a recorder whose loop is not started yet.
func newRecorder(rdb redis.UniversalClient, pool *pgxpool.Pool, opts RecorderOptions) *Recorder {
	r := &Recorder{
		rdb:      rdb,
		pool:     pool,
		stream:   opts.Stream,
		batch:    opts.BatchSize,
		interval: opts.FlushInterval,
		maxLen:   opts.StreamMaxLen,
		log:      opts.Logger,
		now:      opts.Clock,
		full:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if r.stream == "" {
		r.stream = DefaultStream
	}
	if opts.BufferSize <= 0 {
		opts.BufferSize = DefaultBufferSize
	}
	if r.batch <= 0 {
		r.batch = DefaultBatchSize
	}
	if r.interval <= 0 {
		r.interval = DefaultFlushInterval
	}
	if r.maxLen <= 0 {
		r.maxLen = DefaultStreamMaxLen
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.now == nil {
		r.now = time.Now
	}
	r.bufferLimit = opts.BufferSize
	return r
}

// Record queues rec without blocking. It sets rec.OccurredAt when zero; the
// loop sets rec.ID when empty.
//
// NOTE: when the buffer is full, or after Close, the record is dropped. Drops
// are counted (see Dropped) and logged as a warning at most every 30 s, so a
// burst above what one flush loop can write loses records instead of slowing
// requests.
func (r *Recorder) Record(rec Record) {
	if rec.OccurredAt.IsZero() {
		rec.OccurredAt = r.now()
	}
	r.mu.Lock()
	accepted := !r.closed && len(r.pending) < r.bufferLimit
	if accepted {
		r.pending = append(r.pending, rec)
	}
	signal := accepted && len(r.pending) == r.batch
	r.mu.Unlock()
	if !accepted {
		r.noteDropped(1, "usage buffer full or recorder closed; record dropped")
		return
	}
	if signal {
		select {
		case r.full <- struct{}{}:
		default:
		}
	}
}

// take removes and returns every pending record.
func (r *Recorder) take() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.pending
	r.pending = nil
	return out
}

// Dropped returns how many records were dropped since the recorder started.
func (r *Recorder) Dropped() int64 { return r.dropped.Load() }

// Close stops accepting records, flushes every buffered record and waits for
// the loop to end or for ctx to end, whichever comes first.
func (r *Recorder) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		<-r.done
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	close(r.stop)

	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("close usage recorder: %w", ctx.Err())
	}
}

func (r *Recorder) run() {
	defer close(r.done)
	ticker := time.NewTicker(r.interval)
	defer ticker.Stop()

	for {
		select {
		case <-r.full:
			r.flushInBatches(r.take())
		case <-ticker.C:
			if recs := r.take(); len(recs) > 0 || len(r.unsaved) > 0 {
				r.flushInBatches(recs)
			}
		case <-r.stop:
			// Close has set closed under the lock, so no record can follow
			// and pending holds every record left.
			r.flushInBatches(r.take())
			if len(r.unsaved) > 0 {
				r.flush(nil)
			}
			return
		}
	}
}

// flushInBatches flushes recs at most BatchSize at a time.
func (r *Recorder) flushInBatches(recs []Record) {
	for len(recs) > 0 {
		n := min(len(recs), r.batch)
		r.flush(recs[:n])
		recs = recs[n:]
	}
}

// flush writes the records kept from failed flushes and batch to the stream,
// or to PostgreSQL when the stream write fails. Records neither store
// accepted are kept for the next flush, up to the buffer size.
func (r *Recorder) flush(batch []Record) {
	recs := append(r.unsaved, batch...)
	r.unsaved = nil
	if len(recs) == 0 {
		return
	}
	for i := range recs {
		if recs[i].ID == "" {
			recs[i].ID = ids.New(ids.Usage)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()

	streamErr := r.appendToStream(ctx, recs)
	if streamErr == nil {
		return
	}
	// A failed pipeline may have appended some entries already. Writing the
	// whole batch to PostgreSQL is still safe: Drain skips ids already stored.
	if r.streamWarn.allow(r.now()) {
		r.log.Warn("usage stream write failed; writing batch to PostgreSQL",
			"records", len(recs), "stream", r.stream, "error", streamErr.Error())
	}
	_, dbErr := storeRecords(ctx, r.pool, recs)
	if dbErr == nil {
		return
	}

	keep := recs
	if len(keep) > r.bufferLimit {
		r.noteDropped(len(keep)-r.bufferLimit, "usage records dropped because neither Redis nor PostgreSQL accepted them")
		keep = keep[len(keep)-r.bufferLimit:]
	}
	r.unsaved = append([]Record(nil), keep...)
	r.log.Error("usage records not stored; retrying on the next flush",
		"records", len(recs), "stream_error", streamErr.Error(), "error", dbErr.Error())
}

func (r *Recorder) appendToStream(ctx context.Context, recs []Record) error {
	// One buffer holds every entry of the pipeline and is kept for the next
	// flush, which starts only after this pipeline has been sent. A record
	// encodes to about 400 bytes.
	buf := r.encoded[:0]
	if need := 512 * len(recs); cap(buf) < need {
		buf = make([]byte, 0, need)
	}
	pipe := r.rdb.Pipeline()
	for start := 0; start < len(recs); start += r.batch {
		chunk := recs[start:min(start+r.batch, len(recs))]
		from := len(buf)
		var err error
		if buf, err = appendRecordsJSON(buf, chunk); err != nil {
			return fmt.Errorf("encode %d usage records: %w", len(chunk), err)
		}
		pipe.XAdd(ctx, &redis.XAddArgs{
			Stream: r.stream,
			MaxLen: r.maxLen,
			Approx: true,
			Values: []any{batchField, buf[from:]},
		})
	}
	_, err := pipe.Exec(ctx)
	if cap(buf) <= maxKeptEncoding {
		r.encoded = buf
	}
	if err != nil {
		return fmt.Errorf("append %d usage records to stream %s: %w", len(recs), r.stream, err)
	}
	return nil
}

func (r *Recorder) noteDropped(n int, message string) {
	total := r.dropped.Add(int64(n))
	if r.dropWarn.allow(r.now()) {
		r.log.Warn(message, "dropped_total", total)
	}
}

// warnLimiter allows one log line per warnEvery.
type warnLimiter struct {
	mu   sync.Mutex
	last time.Time
}

func (w *warnLimiter) allow(now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.last.IsZero() && now.Sub(w.last) < warnEvery {
		return false
	}
	w.last = now
	return true
}
