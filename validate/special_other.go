//go:build !amd64

package validate

const useAVX2 = false

func indexSpecialAVX2(b []byte) int { panic("no AVX2") }
