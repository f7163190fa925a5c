package webhooks

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeResolver returns addresses from a map the test can change between calls.
type fakeResolver struct {
	mu    sync.Mutex
	hosts map[string][]netip.Addr
}

func (f *fakeResolver) set(host string, addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hosts == nil {
		f.hosts = map[string][]netip.Addr{}
	}
	list := make([]netip.Addr, len(addrs))
	for i, a := range addrs {
		list[i] = netip.MustParseAddr(a)
	}
	f.hosts[host] = list
}

func (f *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a, ok := f.hosts[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// refusedAddrs contains one address of every forbidden range.
var refusedAddrs = map[string]string{
	"loopback":        "127.0.0.1",
	"loopback6":       "::1",
	"private10":       "10.1.2.3",
	"private172":      "172.16.0.1",
	"private192":      "192.168.1.1",
	"private6":        "fd12::1",
	"linklocal":       "169.254.10.10",
	"metadata":        "169.254.169.254",
	"azurewireserver": "168.63.129.16",
	"awsmetadata6":    "fd00:ec2::254",
	"linklocal6":      "fe80::1",
	"cgnat":           "100.64.0.1",
	"alibabametadata": "100.100.100.200",
	"multicast":       "224.0.0.1",
	"multicast6":      "ff02::1",
	"unspecified":     "0.0.0.0",
	"unspecified6":    "::",
	"thisnetwork":     "0.1.2.3",
	"broadcast":       "255.255.255.255",
	"mappedloopback":  "::ffff:127.0.0.1",
	"nat64private":    "64:ff9b::a00:1",
	"sixtofour":       "2002:a00:1::1",
	"benchmarking":    "198.18.0.1",
	"ietfprotocol":    "192.0.0.170",
}

func TestGuard_CheckAddr(t *testing.T) {
	t.Parallel()
	g := &Guard{}
	for name, addr := range refusedAddrs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			require.ErrorIs(t, g.CheckAddr(netip.MustParseAddr(addr)), ErrForbiddenAddress, addr)
		})
	}
	t.Run("PublicAllowed", func(t *testing.T) {
		t.Parallel()
		for _, a := range []string{"93.184.215.14", "2606:4700::1111", "8.8.8.8"} {
			require.NoError(t, g.CheckAddr(netip.MustParseAddr(a)), a)
		}
	})
	t.Run("AllowLoopbackOnlyLoopback", func(t *testing.T) {
		t.Parallel()
		dev := &Guard{AllowLoopback: true}
		require.NoError(t, dev.CheckAddr(netip.MustParseAddr("127.0.0.1")))
		require.NoError(t, dev.CheckAddr(netip.MustParseAddr("::1")))
		require.ErrorIs(t, dev.CheckAddr(netip.MustParseAddr("10.0.0.1")), ErrForbiddenAddress)
		require.ErrorIs(t, dev.CheckAddr(netip.MustParseAddr("169.254.169.254")), ErrForbiddenAddress)
	})
}

func TestGuard_ValidateURL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	res := &fakeResolver{}
	res.set("hooks.example.com", "93.184.215.14")
	res.set("mixed.example.com", "93.184.215.14", "10.0.0.5")
	g := &Guard{RequireHTTPS: true, Resolver: res}

	t.Run("PublicHTTPS", func(t *testing.T) {
		t.Parallel()
		u, err := g.ValidateURL(ctx, "https://hooks.example.com/booga?x=1")
		require.NoError(t, err)
		require.Equal(t, "hooks.example.com", u.Hostname())
	})

	for name, addr := range refusedAddrs {
		t.Run("Resolves"+name, func(t *testing.T) {
			t.Parallel()
			host := name + ".example.com"
			res.set(host, addr)
			_, err := g.ValidateURL(ctx, "https://"+host+"/hook")
			require.ErrorIs(t, err, ErrForbiddenAddress)
		})
		t.Run("Literal"+name, func(t *testing.T) {
			t.Parallel()
			host := addr
			if netip.MustParseAddr(addr).Is6() {
				host = "[" + addr + "]"
			}
			_, err := g.ValidateURL(ctx, "https://"+host+"/hook")
			require.ErrorIs(t, err, ErrForbiddenAddress)
		})
	}

	bad := map[string]string{
		"HTTPInProduction": "http://hooks.example.com/",
		"OtherScheme":      "ftp://hooks.example.com/",
		"Relative":         "/hook",
		"Credentials":      "https://user:pass@hooks.example.com/",
		"Fragment":         "https://hooks.example.com/#x",
		"AnyRefused":       "https://mixed.example.com/",
		"Unresolvable":     "https://nowhere.example.com/",
		"Localhost":        "https://localhost/",
		"Empty":            "",
	}
	for name, raw := range bad {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := g.ValidateURL(ctx, raw)
			require.Error(t, err, raw)
		})
	}

	t.Run("HTTPWhenAllowed", func(t *testing.T) {
		t.Parallel()
		_, err := (&Guard{Resolver: res}).ValidateURL(ctx, "http://hooks.example.com/")
		require.NoError(t, err)
	})
}

// TestGuard_DialRebinding covers a name that resolves to a public address
// when the subscription is saved and to loopback when the attempt dials.
func TestGuard_DialRebinding(t *testing.T) {
	t.Parallel()
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits++ }))
	t.Cleanup(srv.Close)
	port := srv.Listener.Addr().(*net.TCPAddr).Port

	res := &fakeResolver{}
	res.set("rebind.example.com", "93.184.215.14")
	g := &Guard{Resolver: res}
	target := "http://rebind.example.com:" + strconv.Itoa(port) + "/hook"
	_, err := g.ValidateURL(context.Background(), target)
	require.NoError(t, err, "the name resolves to a public address at creation")

	res.set("rebind.example.com", "127.0.0.1")
	_, err = g.Client(2*time.Second).Post(target, "application/json", nil)
	require.ErrorIs(t, err, ErrForbiddenAddress)
	require.Zero(t, hits, "the loopback server must not be reached")

	for name, addr := range refusedAddrs {
		res.set(name+".example.com", addr)
		_, err := g.DialContext(context.Background(), "tcp", net.JoinHostPort(name+".example.com", "443"))
		require.ErrorIs(t, err, ErrForbiddenAddress, name)
	}
}

func TestGuard_ControlChecksDialledAddress(t *testing.T) {
	t.Parallel()
	g := &Guard{}
	require.ErrorIs(t, g.control("tcp4", "127.0.0.1:443", nil), ErrForbiddenAddress)
	require.ErrorIs(t, g.control("tcp6", "[fe80::1]:443", nil), ErrForbiddenAddress)
	require.NoError(t, g.control("tcp4", "93.184.215.14:443", nil))
}

func TestGuard_ClientNoRedirects(t *testing.T) {
	t.Parallel()
	followed := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/final" {
			followed = true
			return
		}
		http.Redirect(w, r, "/final", http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	resp, err := (&Guard{AllowLoopback: true}).Client(2*time.Second).Post(srv.URL+"/start", "application/json", nil)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusFound, resp.StatusCode)
	require.False(t, followed)
}

func TestGuard_ClientIgnoresProxyEnvironment(t *testing.T) {
	c := (&Guard{}).Client(time.Second)
	tr := c.Transport.(*http.Transport)
	require.Nil(t, tr.Proxy, "a proxy would dial on our behalf, past the guard")
}
