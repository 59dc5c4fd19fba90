package validate

import (
	"encoding/binary"
	"math/bits"
)

// indexSpecial returns the index of b's first byte that ends or interrupts
// a plain run of a JSON string's bytes: a quote, a backslash, a control
// character or a non-ASCII byte; len(b) if there is none.
//
// String bodies are ~95% of a chat row's bytes, and this is the one pass the
// scanner makes over them (it used to be two: bytes.IndexByte for the
// closing quote, then a word-at-a-time check of what came before it, ~a
// quarter of a chat validation's CPU). On amd64 with AVX2 the whole 32-byte
// blocks are checked by special_amd64.s, the rest a word at a time.
func indexSpecial(b []byte) int {
	i := 0
	if len(b) >= 32 && useAVX2 {
		if i = indexSpecialAVX2(b); i < len(b)&^31 {
			return i
		}
	}
	return i + indexSpecialSWAR(b[i:])
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// specialMask has the high bit set in each byte of w (eight bytes, little
// endian) that is special, and possibly in bytes above one that is: a
// byte < 0x20 (subtracting 0x20 borrows), >= 0x80, a quote or a backslash
// (w^q is zero there, and a zero byte minus one borrows). A borrow can set
// bits above a true one, never below: the lowest set bit is the first
// special byte.
func specialMask(w uint64) uint64 {
	const qs, bs = ones * '"', ones * '\\'
	q, s := w^qs, w^bs
	return ((w - ones*0x20) | w | (q-ones)&^q | (s-ones)&^s) & highs
}

// indexSpecialSWAR is indexSpecial eight bytes at a time.
func indexSpecialSWAR(b []byte) int {
	i := 0
	for ; i+16 <= len(b); i += 16 {
		m, n := specialMask(binary.LittleEndian.Uint64(b[i:])), specialMask(binary.LittleEndian.Uint64(b[i+8:]))
		if m|n != 0 {
			if m != 0 {
				return i + bits.TrailingZeros64(m)>>3
			}
			return i + 8 + bits.TrailingZeros64(n)>>3
		}
	}
	for ; i+8 <= len(b); i += 8 {
		if m := specialMask(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(b); i++ {
		if isSpecial(b[i]) {
			return i
		}
	}
	return i
}

func isSpecial(c byte) bool { return c < 0x20 || c >= 0x80 || c == '"' || c == '\\' }
