package usage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/booga-enterprise/functions/infra/postgres"
)

// DefaultGroup is the consumer group Drain reads the stream with.
const DefaultGroup = "usage-drain"

// DefaultClaimIdle is how long an entry stays pending with another consumer
// before Drain takes it over, on the assumption that that consumer crashed.
const DefaultClaimIdle = time.Minute

// DefaultMaxEntries bounds the entries one Drain call handles.
const DefaultMaxEntries = 50_000

// DefaultMaxRecords bounds the records one Drain call stores, so a timer
// invocation ends within its time limit even with a large backlog: at the
// tens of thousands of rows per second PostgreSQL takes, well under a
// minute. The next invocation goes on where this one stopped.
const DefaultMaxRecords = 1_000_000

// DefaultReadEntries is how many entries one read takes. An entry contains
// up to USAGE_BATCH_SIZE records, so at the default of 500 one read stores
// at most 5,000 rows.
const DefaultReadEntries = 10

// DrainOptions configures Drain. Zero fields take the defaults.
type DrainOptions struct {
	Stream     string        // DefaultStream when empty
	Group      string        // DefaultGroup when empty
	Consumer   string        // this drainer's name; "<hostname>-<pid>" when empty
	BatchSize  int64         // entries per read; DefaultReadEntries when zero
	MaxEntries int           // entries per call; DefaultMaxEntries when zero
	MaxRecords int           // records per call, checked after each read; DefaultMaxRecords when zero
	ClaimIdle  time.Duration // DefaultClaimIdle when zero
	Logger     *slog.Logger

	// afterCommit runs after a tenant's rows are committed and before their
	// entries are acknowledged. Tests use it to fail at that point.
	afterCommit func(entryIDs []string) error
}

// DrainResult counts what one Drain call did.
type DrainResult struct {
	Read       int // entries read, including Reclaimed
	Reclaimed  int // entries taken over from consumers idle for ClaimIdle
	Inserted   int // rows added to usage_records
	Duplicates int // entries whose id was already stored, such as after a retried drain
	Malformed  int // entries that could not be decoded; deleted without a row
	Acked      int // entries acknowledged and deleted from the stream
}

// Drain moves usage entries from the Redis stream into usage_records until
// the stream has no entry left for this consumer or MaxEntries or
// MaxRecords is reached.
// It first re-reads entries this consumer read earlier but did not
// acknowledge, then takes over entries other consumers left pending for
// ClaimIdle, then reads new entries. Entries are acknowledged and deleted
// only after their tenant's transaction commits, so a drain that fails at
// any point can be retried, by itself or by another consumer, without
// losing or doubling a row. It creates the consumer group when missing.
func Drain(ctx context.Context, pool *pgxpool.Pool, rdb redis.UniversalClient, opts DrainOptions) (DrainResult, error) {
	d := newDrainer(pool, rdb, opts)
	var res DrainResult
	if err := d.ensureGroup(ctx); err != nil {
		return res, err
	}

	sources := []func(context.Context) ([]redis.XMessage, error){d.readOwnPending, d.claimIdle, d.readNew}
	for _, next := range sources {
		for res.Read < d.opts.MaxEntries && res.Inserted+res.Duplicates < d.opts.MaxRecords {
			msgs, err := next(ctx)
			if err != nil {
				return res, err
			}
			if len(msgs) == 0 {
				break
			}
			res.Read += len(msgs)
			if err := d.store(ctx, msgs, &res); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

type drainer struct {
	pool        *pgxpool.Pool
	rdb         redis.UniversalClient
	opts        DrainOptions
	claimCursor string
	claimDone   bool
	reclaimed   int
}

func newDrainer(pool *pgxpool.Pool, rdb redis.UniversalClient, opts DrainOptions) *drainer {
	if opts.Stream == "" {
		opts.Stream = DefaultStream
	}
	if opts.Group == "" {
		opts.Group = DefaultGroup
	}
	if opts.Consumer == "" {
		host, _ := os.Hostname()
		opts.Consumer = host + "-" + strconv.Itoa(os.Getpid())
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultReadEntries
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.MaxRecords <= 0 {
		opts.MaxRecords = DefaultMaxRecords
	}
	if opts.ClaimIdle <= 0 {
		opts.ClaimIdle = DefaultClaimIdle
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &drainer{pool: pool, rdb: rdb, opts: opts, claimCursor: "0-0"}
}

func (d *drainer) ensureGroup(ctx context.Context) error {
	err := d.rdb.XGroupCreateMkStream(ctx, d.opts.Stream, d.opts.Group, "0").Err()
	// NOTE: Redis reports an existing group only as an error text starting
	// with BUSYGROUP; go-redis has no typed error for it.
	if err != nil && !isBusyGroup(err) {
		return fmt.Errorf("create consumer group %s on stream %s: %w", d.opts.Group, d.opts.Stream, err)
	}
	return nil
}

func isBusyGroup(err error) bool {
	var rerr redis.Error
	return errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), "BUSYGROUP")
}

// readOwnPending returns entries delivered to this consumer and not yet
// acknowledged, such as those of a drain that failed after its commit.
func (d *drainer) readOwnPending(ctx context.Context) ([]redis.XMessage, error) {
	return d.read(ctx, "0")
}

func (d *drainer) readNew(ctx context.Context) ([]redis.XMessage, error) {
	return d.read(ctx, ">")
}

func (d *drainer) read(ctx context.Context, from string) ([]redis.XMessage, error) {
	streams, err := d.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group:    d.opts.Group,
		Consumer: d.opts.Consumer,
		Streams:  []string{d.opts.Stream, from},
		Count:    d.opts.BatchSize,
		Block:    -1, // return at once when nothing is there
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read stream %s from %s as %s: %w", d.opts.Stream, from, d.opts.Consumer, err)
	}
	if len(streams) == 0 {
		return nil, nil
	}
	return streams[0].Messages, nil
}

// claimIdle takes over, page by page, entries pending with any consumer for
// at least ClaimIdle.
func (d *drainer) claimIdle(ctx context.Context) ([]redis.XMessage, error) {
	for !d.claimDone {
		msgs, cursor, err := d.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream:   d.opts.Stream,
			Group:    d.opts.Group,
			Consumer: d.opts.Consumer,
			MinIdle:  d.opts.ClaimIdle,
			Start:    d.claimCursor,
			Count:    d.opts.BatchSize,
		}).Result()
		if err != nil {
			return nil, fmt.Errorf("claim idle entries of stream %s as %s: %w", d.opts.Stream, d.opts.Consumer, err)
		}
		d.claimCursor = cursor
		d.claimDone = cursor == "0-0"
		if len(msgs) > 0 {
			d.reclaimed += len(msgs)
			d.opts.Logger.Info("usage drain took over idle entries",
				"entries", len(msgs), "consumer", d.opts.Consumer, "stream", d.opts.Stream)
			return msgs, nil
		}
	}
	return nil, nil
}

// store inserts the records of msgs per tenant and acknowledges the entries
// once every tenant's transaction has committed, because one entry can hold
// records of several tenants. Entries that cannot be decoded are
// acknowledged and deleted at once, because retrying cannot fix them.
func (d *drainer) store(ctx context.Context, msgs []redis.XMessage, res *DrainResult) error {
	res.Reclaimed = d.reclaimed
	byTenant := map[string][]Record{}
	var stored, malformed []string
	for _, m := range msgs {
		recs, err := decodeEntry(m)
		if err != nil {
			d.opts.Logger.Warn("usage drain deleted a malformed entry", "entry_id", m.ID, "stream", d.opts.Stream, "error", err.Error())
			malformed = append(malformed, m.ID)
			continue
		}
		for _, rec := range recs {
			byTenant[rec.TenantID] = append(byTenant[rec.TenantID], rec)
		}
		stored = append(stored, m.ID)
	}
	if len(malformed) > 0 {
		if err := d.ack(ctx, malformed); err != nil {
			return err
		}
		res.Malformed += len(malformed)
		res.Acked += len(malformed)
	}

	for _, tenantID := range sortedKeys(byTenant) {
		recs := byTenant[tenantID]
		var inserted int
		err := postgres.InTenant(ctx, d.pool, tenantID, func(tx pgx.Tx) error {
			n, err := insertTenantRecords(ctx, tx, recs)
			inserted = n
			return err
		})
		if err != nil {
			// The entries stay pending; a later drain stores them again and
			// skips the records already committed here.
			return fmt.Errorf("store usage entries of tenant %s: %w", tenantID, err)
		}
		res.Inserted += inserted
		res.Duplicates += len(recs) - inserted
	}
	if len(stored) == 0 {
		return nil
	}
	if d.opts.afterCommit != nil {
		if err := d.opts.afterCommit(stored); err != nil {
			return err
		}
	}
	if err := d.ack(ctx, stored); err != nil {
		return err
	}
	res.Acked += len(stored)
	return nil
}

func sortedKeys(m map[string][]Record) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ack acknowledges entryIDs and deletes them from the stream in one
// MULTI/EXEC, so the stream does not keep entries that are already stored.
func (d *drainer) ack(ctx context.Context, entryIDs []string) error {
	_, err := d.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAck(ctx, d.opts.Stream, d.opts.Group, entryIDs...)
		p.XDel(ctx, d.opts.Stream, entryIDs...)
		return nil
	})
	if err != nil {
		return fmt.Errorf("acknowledge %d entries of stream %s: %w", len(entryIDs), d.opts.Stream, err)
	}
	return nil
}

// decodeEntry reads the records of one stream entry: a batch in the field
// batchField, or a single record in streamField as older recorders wrote.
func decodeEntry(m redis.XMessage) ([]Record, error) {
	var recs []Record
	if raw, ok := m.Values[batchField].(string); ok {
		if err := json.Unmarshal([]byte(raw), &recs); err != nil {
			return nil, fmt.Errorf("decode entry: %w", err)
		}
	} else if raw, ok := m.Values[streamField].(string); ok {
		var rec Record
		if err := json.Unmarshal([]byte(raw), &rec); err != nil {
			return nil, fmt.Errorf("decode entry: %w", err)
		}
		recs = []Record{rec}
	} else {
		return nil, fmt.Errorf("entry has neither a %q nor a %q field", batchField, streamField)
	}
	if len(recs) == 0 {
		return nil, errors.New("entry contains no record")
	}
	for _, rec := range recs {
		if rec.ID == "" || rec.TenantID == "" {
			return nil, errors.New("entry has a record without id or tenant_id")
		}
	}
	return recs, nil
}
