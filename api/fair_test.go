package api_test

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/api"
	"github.com/silo-datasets/silo/internal/silotest"
)

// stall starts an upload that sends its headers and a few body bytes, then
// nothing, as a stalled client does.
func stall(t *testing.T, e *silotest.Env, key string) net.Conn {
	c := rawConn(t, e)
	fmt.Fprintf(c, "POST /v1/datasets?name=stalled&type=embed-input HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n--b\r\n"+
		"Content-Disposition: form-data; name=\"data\"; filename=\"d.jsonl\"\r\n\r\n{\"text\":\"a\"}\n", key)
	return c
}

// TestStalledUploadsDoNotStarveOthers: with --max-inflight 4, four stalled
// uploads from one key take at most half the slots (the rest get 503 +
// Retry-After at once), another organisation's GET /usage is answered
// meanwhile, and each stalled body is cut off after --body-idle-timeout
// with its reservation released.
func TestStalledUploadsDoNotStarveOthers(t *testing.T) {
	const idle = time.Second
	e := silotest.Start(t, silotest.Options{Configure: func(s *api.Server) {
		s.MaxInFlight, s.BodyIdleTimeout = 4, idle
	}})
	orgA, keyA := e.Org(t, "a", 0, silo.RoleWriter)
	_, keyB := e.Org(t, "b", 0, silo.RoleReader)
	var held []net.Conn
	refused := 0
	start := time.Now()
	for i := 0; i < 4; i++ {
		c := stall(t, e, keyA)
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		buf := make([]byte, 64)
		if n, _ := c.Read(buf); n > 0 {
			if string(buf[:12]) != "HTTP/1.1 503" {
				t.Fatalf("stalled upload %d answered %q", i, buf[:n])
			}
			refused++
			continue
		}
		held = append(held, c)
	}
	if len(held) != 2 || refused != 2 {
		t.Fatalf("%d uploads held, %d refused; want 2 and 2 (half of --max-inflight 4)", len(held), refused)
	}
	waitFor(t, func() bool { return e.Usage(t, orgA).ReservedBytes > 0 })
	for i := 0; i < 5; i++ {
		if st, _ := getKey(t, e, keyB, "/v1/datasets/usage"); st != 200 {
			t.Fatalf("another organisation's usage while one key stalls: %d", st)
		}
	}
	for _, c := range held {
		resp, body := readResponse(t, c)
		if resp.StatusCode != 499 {
			t.Fatalf("stalled body: %d %s, want it cut off", resp.StatusCode, body)
		}
	}
	if took := time.Since(start); took < idle || took > idle+10*time.Second {
		t.Fatalf("cut off after %v, want about %v", took, idle)
	}
	waitFor(t, func() bool { return e.Usage(t, orgA).ReservedBytes == 0 })
	if st, _ := getKey(t, e, keyA, "/v1/datasets/usage"); st != 200 {
		t.Fatalf("the stalled key afterwards: %d", st)
	}
}
