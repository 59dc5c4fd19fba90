package silo_test

import (
	"strings"
	"testing"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/silotest"
)

// TestJSObjectUpload: a data part that is exactly "[object Object]" (what
// the TypeScript SDK sends for a stream or a {path}) is refused with a
// message that says how to send the file, and nothing is stored; a file
// that merely starts with those bytes is a file like any other.
func TestJSObjectUpload(t *testing.T) {
	e := silotest.Start(t, silotest.Options{})
	orgID, key := e.Org(t, "js", 0, silo.RoleWriter)
	c := caller(t, e, key)
	for _, tc := range []struct {
		name, data string
		refused    bool
	}{
		{"exactly the object's text", "[object Object]", true},
		{"the text and more", "[object Object]\n[object Object]\n", false},
		{"a prefix of it", "[object Obj", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.Usage(t, orgID).UsedBytes
			_, err := upload(t.Context(), e.Service, c, tc.data)
			if !tc.refused {
				if silo.ErrorCode(err) == silo.EINVALID && strings.Contains(silo.ErrorMessage(err), "Blob") {
					t.Fatalf("refused a real file: %v", err)
				}
				return
			}
			msg := silo.ErrorMessage(err)
			if silo.ErrorCode(err) != silo.EINVALID || !strings.Contains(msg, "[object Object]") || !strings.Contains(msg, "Blob or File") {
				t.Fatalf("err = %v, want EINVALID naming the text and how to send a file", err)
			}
			if o := e.Usage(t, orgID); o.UsedBytes != before || o.ReservedBytes != 0 {
				t.Fatalf("a refused upload left used %d (was %d), reserved %d", o.UsedBytes, before, o.ReservedBytes)
			}
		})
	}
}
