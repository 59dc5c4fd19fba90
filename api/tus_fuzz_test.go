package api

import (
	"encoding/base64"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/silo-datasets/silo"
)

// FuzzTusMetadata: Upload-Metadata parses into UTF-8 keys and values with
// no NUL, or is refused with 400; what parses renders back to the same
// pairs.
func FuzzTusMetadata(f *testing.F) {
	for _, s := range []string{"", "name bmFtZQ==", "name bmFtZQ==,type ZW1iZWQtaW5wdXQ=", "flag", "a  YQ==", "a YQ==,a YQ==",
		"a !!", "a AA==", " a YQ== , b Yg== ", "é YQ==", "a,b,c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		meta, err := parseTusMetadata(raw)
		if err != nil {
			if silo.ErrorCode(err) != silo.EINVALID {
				t.Fatalf("parseTusMetadata(%q): %v, want EINVALID", raw, err)
			}
			return
		}
		var pairs []string
		for k, v := range meta {
			if k == "" || strings.ContainsAny(k, " ,") || !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
				t.Fatalf("parseTusMetadata(%q) gave %q: %q", raw, k, v)
			}
			pairs = append(pairs, k+" "+base64.StdEncoding.EncodeToString([]byte(v)))
		}
		again, err := parseTusMetadata(strings.Join(pairs, ","))
		if err != nil || len(again) != len(meta) {
			t.Fatalf("re-parsing %q: %v %v", raw, again, err)
		}
		for k, v := range meta {
			if again[k] != v {
				t.Fatalf("re-parsing %q: %q is %q, was %q", raw, k, again[k], v)
			}
		}
	})
}

// FuzzTusHeaders: Upload-Checksum and Upload-Concat parse or are refused
// with 400, never anything else.
func FuzzTusHeaders(f *testing.F) {
	for _, s := range []string{"sha256 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "sha1 2jmj7l5rSw0yVb/vlWAYkK/YBwk=", "md5 1B2M2Y8AsgTpgAmY7PhCfg==",
		"crc32 AAAA", "sha256", "sha256 !!", "/v1/uploads/up_1 http://h/v1/uploads/up_2", "http://h/x", "/v1/uploads/", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if sum, err := parseChecksum(v); err != nil && silo.ErrorCode(err) != silo.EINVALID {
			t.Fatalf("parseChecksum(%q): %v", v, err)
		} else if err == nil && sum != nil && len(sum.Sum) != sum.New().Size() {
			t.Fatalf("parseChecksum(%q): a digest of %d bytes", v, len(sum.Sum))
		}
		ids, err := concatIDs(v)
		if err != nil {
			if silo.ErrorCode(err) != silo.EINVALID {
				t.Fatalf("concatIDs(%q): %v", v, err)
			}
			return
		}
		for _, id := range ids {
			if id == "" || strings.Contains(id, "/") {
				t.Fatalf("concatIDs(%q) gave %q", v, id)
			}
		}
	})
}
