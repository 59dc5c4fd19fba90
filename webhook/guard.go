package webhook

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	"github.com/silo-datasets/silo"
)

// Guard keeps webhooks off silo's own network (SSRF): an endpoint's URL
// must be http or https and its host must not be, or resolve to, a
// loopback, private, unique-local, link-local, shared (CGNAT), multicast or
// unspecified address. CheckURL says so when an endpoint is created; the
// client's dialer checks the address it actually connects to at every
// delivery, so a name that resolved to a public address then and to
// 127.0.0.1 now (DNS rebinding) is refused too. Redirects are not followed.
type Guard struct {
	// AllowPrivate turns the address checks off (--webhook-allow-private):
	// for receivers on premises, and tests on loopback.
	AllowPrivate bool
	Resolver     *net.Resolver // nil: net.DefaultResolver
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// refused says why ip may not be called, or "" if it may.
func refused(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid():
		return "invalid"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "link-local"
	case ip.IsPrivate():
		return "private (or unique-local)"
	case cgnat.Contains(ip):
		return "shared (carrier-grade NAT)"
	case ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast"
	}
	return ""
}

func invalid(format string, args ...any) error {
	return silo.Errorf(silo.EUNPROCESSABLE, format, args...)
}

// CheckURL checks an endpoint's URL as it is created: EUNPROCESSABLE
// naming the rule it breaks.
func (g *Guard) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return invalid("url must be an absolute http:// or https:// URL")
	}
	if len(raw) > 2000 {
		return invalid("url must be at most 2000 characters")
	}
	if g.AllowPrivate {
		return nil
	}
	host := u.Hostname()
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		r := g.Resolver
		if r == nil {
			r = net.DefaultResolver
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if ips, err = r.LookupNetIP(ctx, "ip", host); err != nil || len(ips) == 0 {
			return invalid("url's host %q does not resolve", host)
		}
	}
	for _, ip := range ips {
		if why := refused(ip); why != "" {
			return invalid("url's host %s is a %s address (%s): silo calls only public addresses, unless started with --webhook-allow-private", host, why, ip.Unmap())
		}
	}
	return nil
}

// refusedError is what the dialer answers for an address it may not call.
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }

// control is the dialer's check of the address it is about to connect to.
func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	if g.AllowPrivate {
		return nil
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return &refusedError{"refused to connect to " + host}
	}
	if why := refused(ip); why != "" {
		return &refusedError{fmt.Sprintf("refused to connect to %s: a %s address", ip.Unmap(), why)}
	}
	return nil
}

// Client returns the HTTP client deliveries are posted with: each request
// within timeout, no proxy (it would hide the address called), no
// redirects followed (a 3xx is an answer, and not a 2xx).
func (g *Guard) Client(timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: g.control}
	t := &http.Transport{
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{
		Transport:     t,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
