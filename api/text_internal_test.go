package api

import (
	"net/http"
	"testing"
)

// TestTextHeadersCanonical: the header names read from the map directly
// (textHeaders, headerValue's callers) are in canonical form, or a request
// that sends them would not be seen to.
func TestTextHeadersCanonical(t *testing.T) {
	for _, h := range append([]string{"Authorization", "X-Client-Name", "Request-Source"}, textHeaders...) {
		if c := http.CanonicalHeaderKey(h); c != h {
			t.Errorf("%q is not canonical: %q", h, c)
		}
	}
}
