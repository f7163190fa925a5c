package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrForbiddenAddress is returned, wrapped, when a webhook URL's host is or
// resolves to an address the platform does not send to.
var ErrForbiddenAddress = errors.New("webhook address not allowed")

// Resolver looks up a host's addresses; *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Guard decides which URLs and addresses webhooks may reach. It is applied
// when a subscription is saved and again for every address at connect time,
// so a name that resolved to a public address when it was saved and to an
// internal one later (DNS rebinding) is still rejected.
type Guard struct {
	// RequireHTTPS rejects http:// URLs; set outside local and dev.
	RequireHTTPS bool
	// AllowLoopback permits 127.0.0.0/8 and ::1, for tests and local
	// development only. Every other forbidden range stays forbidden.
	AllowLoopback bool
	// Resolver defaults to net.DefaultResolver.
	Resolver Resolver
}

// maxURLLength bounds a subscription URL.
const maxURLLength = 2048

// refused lists the ranges webhooks never reach, with the reason reported.
// Loopback, private, link-local, multicast and unspecified addresses are
// also caught by the netip predicates in CheckAddr.
var refused = []struct {
	prefix netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space (CGNAT)"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local (cloud metadata)"},
	{netip.MustParsePrefix("168.63.129.16/32"), "Azure platform metadata"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("fc00::/7"), "private (unique local, includes fd00:ec2::254 metadata)"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
	{netip.MustParsePrefix("64:ff9b::/96"), "NAT64, which can reach IPv4 internal addresses"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "NAT64, which can reach IPv4 internal addresses"},
	{netip.MustParsePrefix("2002::/16"), "6to4, which can reach IPv4 internal addresses"},
	{netip.MustParsePrefix("100::/64"), "discard-only"},
}

// CheckAddr returns nil when webhooks may connect to addr, else an error
// wrapping ErrForbiddenAddress that names the range.
func (g *Guard) CheckAddr(addr netip.Addr) error {
	addr = addr.Unmap()
	if !addr.IsValid() {
		return fmt.Errorf("%w: invalid address", ErrForbiddenAddress)
	}
	if addr.IsLoopback() && g.AllowLoopback {
		return nil
	}
	for _, r := range refused {
		if r.prefix.Contains(addr) {
			return fmt.Errorf("%w: %s is %s", ErrForbiddenAddress, addr, r.reason)
		}
	}
	switch {
	case addr.IsLoopback(), addr.IsPrivate(), addr.IsLinkLocalUnicast(), addr.IsLinkLocalMulticast(),
		addr.IsInterfaceLocalMulticast(), addr.IsMulticast(), addr.IsUnspecified():
		return fmt.Errorf("%w: %s is not a public unicast address", ErrForbiddenAddress, addr)
	}
	return nil
}

func (g *Guard) resolver() Resolver {
	if g.Resolver != nil {
		return g.Resolver
	}
	return net.DefaultResolver
}

// ValidateURL parses raw and checks that it is an absolute http(s) URL
// without credentials or fragment, https when RequireHTTPS, and that every
// address its host resolves to now is allowed. The returned error's text
// is safe to show the tenant.
func (g *Guard) ValidateURL(ctx context.Context, raw string) (*url.URL, error) {
	if len(raw) > maxURLLength {
		return nil, fmt.Errorf("must be at most %d characters", maxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return nil, errors.New("must be an absolute URL such as https://hooks.example.com/booga")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if g.RequireHTTPS {
			return nil, errors.New("must use https")
		}
	default:
		return nil, fmt.Errorf("must use https, got scheme %q", u.Scheme)
	}
	if u.User != nil {
		return nil, errors.New("must not contain a user name or password; authenticate receivers with the signature")
	}
	if u.Fragment != "" {
		return nil, errors.New("must not contain a fragment")
	}
	if err := g.checkHost(ctx, u.Hostname()); err != nil {
		return nil, err
	}
	return u, nil
}

func (g *Guard) checkHost(ctx context.Context, host string) error {
	if addr, err := netip.ParseAddr(host); err == nil {
		return g.CheckAddr(addr)
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") && !g.AllowLoopback {
		return fmt.Errorf("%w: localhost is loopback", ErrForbiddenAddress)
	}
	addrs, err := g.resolver().LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return fmt.Errorf("host %q does not resolve", host)
	}
	for _, a := range addrs {
		if err := g.CheckAddr(a); err != nil {
			return fmt.Errorf("host %q resolves to a forbidden address: %w", host, err)
		}
	}
	return nil
}

// DialContext resolves addr's host with the Guard's resolver and connects to
// the first allowed address that accepts the connection. Every resolved
// address is checked, and the socket's Control hook checks the address
// actually dialled once more, so no lookup path can slip an internal
// address through.
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		addrs, err = g.resolver().LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", host, err)
		}
	}
	d := net.Dialer{Timeout: 5 * time.Second, Control: g.control}
	var errs []error
	for _, a := range addrs {
		if err := g.CheckAddr(a); err != nil {
			errs = append(errs, err)
			continue
		}
		conn, err := d.DialContext(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("resolve %s: no addresses", host)
	}
	return nil, errors.Join(errs...)
}

// control is net.Dialer.Control: it runs after the address is chosen and
// before the connection is made.
func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse dialled address %q", ErrForbiddenAddress, address)
	}
	return g.CheckAddr(ap.Addr())
}

// Client returns an HTTP client for deliveries: it dials through the Guard,
// ignores proxy environment variables (a proxy would dial on our behalf,
// past the guard), follows no redirects and gives up after timeout.
func (g *Guard) Client(timeout time.Duration) *http.Client {
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            g.DialContext,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		MaxIdleConns:           256,
		MaxIdleConnsPerHost:    8,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
