package api_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/silotest"
)

// TestPartHeadersCapped: a create whose part headers take more than 64 KiB
// in all (internal/mpart.MaxHeaderBytes) is refused with 400 and stores and
// counts nothing; just under the cap it is a normal create.
func TestPartHeadersCapped(t *testing.T) {
	e := silotest.Start(t, silotest.Options{})
	orgID, key := e.Org(t, "acme", 0, silo.RoleWriter)
	body := func(pad int) *bytes.Buffer {
		var b bytes.Buffer
		fmt.Fprintf(&b, "--B\r\nContent-Disposition: form-data; name=\"data\"; filename=\"d.jsonl\"\r\nX-Pad: %s\r\n\r\n{\"text\":\"a\"}\n\r\n--B--\r\n", strings.Repeat("p", pad))
		return &b
	}
	const ctype = "multipart/form-data; boundary=B"
	st, out := create(t, e, key, "name=big&type=embed-input", body(70_000), ctype)
	if msg, _ := out["message"].(string); st != 400 || !strings.Contains(msg, "64 KiB") {
		t.Fatalf("70 kB of part headers: %d %v, want 400 naming the 64 KiB cap", st, out)
	}
	if u := e.Usage(t, orgID); u.UsedBytes != 0 || u.ReservedBytes != 0 {
		t.Fatalf("after the refusal: used %d, reserved %d", u.UsedBytes, u.ReservedBytes)
	}
	if st, out := create(t, e, key, "name=ok&type=embed-input", body(60_000), ctype); st != 200 {
		t.Fatalf("60 kB of part headers: %d %v, want 200", st, out)
	}
	fsckClean(t, e)
}
