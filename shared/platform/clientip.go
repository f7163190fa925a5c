package platform

import (
	"net"
	"net/http"
	"net/netip"
)

// ClientIP returns the address the IP allow-list and throttles use. Behind
// our Front Door (X-Azure-FDID equals frontDoorID) it is X-Azure-SocketIP,
// the TCP peer Front Door saw. Otherwise it is the socket peer of this
// connection. X-Forwarded-For and X-Azure-ClientIP are never used: a client
// can set them to anything.
func ClientIP(r *http.Request, frontDoorID string) netip.Addr {
	if frontDoorID != "" && r.Header.Get("X-Azure-FDID") == frontDoorID {
		if a, err := netip.ParseAddr(r.Header.Get("X-Azure-SocketIP")); err == nil {
			return a.Unmap()
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// allowed reports whether ip is inside one of the CIDRs; an empty list allows all.
func allowed(ip netip.Addr, cidrs []string) bool {
	if len(cidrs) == 0 {
		return true
	}
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil && p.Contains(ip) {
			return true
		}
	}
	return false
}

func parseAddr(s string) netip.Addr {
	a, _ := netip.ParseAddr(s)
	return a
}
