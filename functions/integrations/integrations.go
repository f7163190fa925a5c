// Package integrations is the integrations plugin: webhook subscriptions and
// their deliveries under /integrations/webhooks, the event catalogue at
// /integrations/events, and the three non-HTTP functions that move events
// to webhooks (event-fanout, webhook-delivery and the event-relay timer).
package integrations

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/booga-enterprise/functions/infra/servicebus"
	"github.com/booga-enterprise/functions/shared/azure"
	"github.com/booga-enterprise/functions/shared/config"
	"github.com/booga-enterprise/functions/shared/events"
	"github.com/booga-enterprise/functions/shared/queue"
	"github.com/booga-enterprise/functions/shared/registry"
	"github.com/booga-enterprise/functions/shared/webhooks"
)

// Plugin is the plugin name and the first path segment of its routes.
const Plugin = "integrations"

// Capabilities of this plugin's routes.
const (
	CapRead       = "integrations:read"
	CapManage     = "integrations:manage"
	CapEventsRead = "events:read"
)

// Options are the dependencies of the plugin.
type Options struct {
	Config config.Config
	Pool   *pgxpool.Pool
	// Publisher defaults to Service Bus when SERVICEBUS_NAMESPACE is set and
	// to the PostgreSQL queue otherwise.
	Publisher queue.Publisher
	// Now is the clock of the webhook service and the relay; default
	// time.Now. Signatures carry it, so it must be close to real time for
	// receivers to accept them.
	Now    func() time.Time
	Logger *slog.Logger
}

// Module contains the relay and the webhook service that the routes and the
// functions share.
type Module struct {
	Relay    *events.Relay
	Webhooks *webhooks.Service
	// Publisher is the broker the module sends to: Service Bus in Azure,
	// the PostgreSQL queue locally.
	Publisher queue.Publisher
}

// Register builds the module from opts and adds its routes to reg. It
// opens no connection, so it also serves the commands that only read the
// registry.
func Register(reg *registry.Registry, opts Options) *Module {
	m := New(opts)
	m.Register(reg)
	return m
}

// New builds the module without registering routes.
func New(opts Options) *Module {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	pub := opts.Publisher
	if pub == nil {
		pub = newPublisher(opts.Config, opts.Pool)
	}
	cfg := opts.Config
	relay := &events.Relay{Pool: opts.Pool, Publisher: pub, Logger: opts.Logger, Now: opts.Now}
	guard := &webhooks.Guard{
		RequireHTTPS:  cfg.Env != config.EnvLocal && cfg.Env != config.EnvDev,
		AllowLoopback: cfg.WebhooksAllowLoopback && cfg.Env == config.EnvLocal,
	}
	svc := &webhooks.Service{
		Pool: opts.Pool, Publisher: pub, Relay: relay, Guard: guard, Logger: opts.Logger, Now: opts.Now,
		Timeout: cfg.WebhookTimeout, DisableAfter: cfg.WebhookDisableAfter, SecretOverlap: cfg.WebhookSecretOverlap,
		Concurrency: cfg.WebhookConcurrency,
	}
	return &Module{Relay: relay, Webhooks: svc, Publisher: pub}
}

// Middleware makes events emitted by any request handler publish right
// after the request's transaction commits.
func (m *Module) Middleware(next http.Handler) http.Handler { return m.Relay.Middleware(next) }

// newPublisher returns the PostgreSQL queue locally and a Service Bus
// publisher, created on first use, when SERVICEBUS_NAMESPACE is set.
func newPublisher(cfg config.Config, pool *pgxpool.Pool) queue.Publisher {
	if cfg.ServiceBusNamespace == "" {
		return queue.NewStore(pool)
	}
	return &lazyServiceBus{cfg: cfg}
}

// lazyServiceBus is a Service Bus publisher that creates its client on the
// first Publish, so building the module makes no call to Azure and cannot
// fail on a Service Bus error.
type lazyServiceBus struct {
	cfg  config.Config
	once sync.Once
	pub  *servicebus.Publisher
	err  error
}

func (l *lazyServiceBus) Publish(ctx context.Context, entity string, msgs ...queue.Message) error {
	l.once.Do(func() {
		cred, err := azure.NewCredential(azure.CredentialOptions{ClientID: l.cfg.AzureClientID})
		if err != nil {
			l.err = fmt.Errorf("create Azure credential for Service Bus: %w", err)
			return
		}
		l.pub, l.err = servicebus.New(l.cfg.ServiceBusNamespace, cred)
	})
	if l.err != nil {
		return l.err
	}
	return l.pub.Publish(ctx, entity, msgs...)
}
