package testenv

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// CutProxy forwards loopback TCP connections to a server and closes each
// one (both ways) once the client has sent Limit bytes on it: a network
// that drops mid-request, as a client sees one. Set Target (host:port)
// before the first connection; it may be chosen after the proxy's URL is
// known (a server whose public URL is the proxy).
type CutProxy struct {
	URL    string
	Target string
	Limit  int64
	// Conns and Cuts count the connections carried and those cut.
	Conns, Cuts atomic.Int64

	mu    sync.Mutex
	conns map[net.Conn]bool
}

// StartCutProxy starts a proxy on a free loopback port and stops it, with
// every connection it holds, when the test ends.
func StartCutProxy(t testing.TB, target string, limit int64) *CutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &CutProxy{URL: "http://" + ln.Addr().String(), Target: target, Limit: limit, conns: map[net.Conn]bool{}}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); p.serve(c) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		wg.Wait()
	})
	return p
}

func (p *CutProxy) serve(c net.Conn) {
	p.Conns.Add(1)
	s, err := net.Dial("tcp", p.Target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[s] = true, true
	p.mu.Unlock()
	defer func() {
		c.Close()
		s.Close()
		p.mu.Lock()
		delete(p.conns, c)
		delete(p.conns, s)
		p.mu.Unlock()
	}()
	done := make(chan struct{})
	go func() { io.Copy(c, s); c.Close(); close(done) }()
	if n, _ := io.CopyN(s, c, p.Limit); n == p.Limit {
		p.Cuts.Add(1) // the client had more to send: cut it off
	}
	s.Close()
	<-done
}
