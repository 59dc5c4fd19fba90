package silo

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"strings"
	"unicode"
)

// lowerAlnum is the alphabet of dataset id suffixes, as Cohere's
// (e.g. "sample-file-hca4x0").
const lowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789"

// randomString returns n characters drawn uniformly from alphabet.
func randomString(n int, alphabet string) string {
	// Rejection sampling keeps the draw uniform for any alphabet size.
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, n+8)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out)
}

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a random identifier with a prefix that tells its kind
// ("org_", "key_", "res_", "blob_"...): 80 random bits.
func NewID(prefix string) string {
	b := make([]byte, 10)
	rand.Read(b)
	return prefix + b32.EncodeToString(b)
}

// NewBlobKey returns a fresh flat blob key: 128 random bits, lower case
// letters and digits only, so any blob store can use it as a name as is.
func NewBlobKey() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "b" + b32.EncodeToString(b)
}

// ValidBlobKey reports whether key has the shape NewBlobKey gives. Blob
// stores check it so that no key can ever name a path outside their root.
func ValidBlobKey(key string) bool {
	if len(key) < 2 || len(key) > 64 || key[0] != 'b' {
		return false
	}
	for _, c := range key[1:] {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// NewSecret returns a new API key secret: 192 random bits, prefixed so that
// secret scanners and people recognise it.
func NewSecret() string {
	b := make([]byte, 24)
	rand.Read(b)
	return "silo_" + b32.EncodeToString(b)
}

// HashSecret is how keys are looked up: by the SHA-256 of their secret.
// Every API request hashes its key: a secret of up to 128 bytes (silo's
// are 45) is hashed from a copy on the stack, not one on the heap.
func HashSecret(secret string) []byte {
	var buf [128]byte
	h := sha256.Sum256(append(buf[:0], secret...))
	return h[:]
}

// NewDatasetID returns an id that looks like Cohere's: the slugified name, a
// dash and 6 random lower-case letters or digits.
func NewDatasetID(name string) string {
	return Slugify(name) + "-" + randomString(6, lowerAlnum)
}

// Slugify lower-cases name and turns every run of other characters than
// ASCII letters and digits into one dash. An empty slug becomes "dataset".
func Slugify(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		} else {
			dash = true
		}
	}
	if b.Len() == 0 {
		return "dataset"
	}
	return b.String()
}
