#include "textflag.h"

// func indexSpecialAVX2(b []byte) int
//
// A byte is special if, as a signed byte, it is below 0x20 (a control
// character, or >= 0x80: negative), or it is a quote or a backslash. Two
// 32-byte blocks a turn while both are whole, then one.
//
// Every instruction is VEX-encoded: the constants go into X registers with
// VMOVD, not MOVQ. A legacy-SSE MOVQ there cost ~350 ns a call on the
// machines silo is measured on (the SSE/AVX transition), which made the
// first version slower than the word loop for a 650-byte chat reply.
TEXT ·indexSpecialAVX2(SB), NOSPLIT, $0-32
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), BX
	ANDQ $~31, BX
	XORQ AX, AX
	MOVL $0x20, DX
	VMOVD DX, X1
	VPBROADCASTB X1, Y1
	MOVL $0x22, DX
	VMOVD DX, X2
	VPBROADCASTB X2, Y2
	MOVL $0x5c, DX
	VMOVD DX, X3
	VPBROADCASTB X3, Y3

pair:
	LEAQ 64(AX), DX
	CMPQ DX, BX
	JA   single
	VMOVDQU (SI)(AX*1), Y0
	VMOVDQU 32(SI)(AX*1), Y8
	VPCMPGTB Y0, Y1, Y4
	VPCMPEQB Y0, Y2, Y5
	VPCMPEQB Y0, Y3, Y6
	VPOR Y4, Y5, Y5
	VPOR Y5, Y6, Y6
	VPCMPGTB Y8, Y1, Y9
	VPCMPEQB Y8, Y2, Y10
	VPCMPEQB Y8, Y3, Y11
	VPOR Y9, Y10, Y10
	VPOR Y10, Y11, Y11
	VPOR Y6, Y11, Y12
	VPTEST Y12, Y12
	JNZ  pairfound
	ADDQ $64, AX
	JMP  pair

pairfound:
	VPMOVMSKB Y6, DX
	TESTL DX, DX
	JNZ  found
	ADDQ $32, AX
	VPMOVMSKB Y11, DX
	JMP  found

single:
	CMPQ AX, BX
	JAE  done
	VMOVDQU (SI)(AX*1), Y0
	VPCMPGTB Y0, Y1, Y4
	VPCMPEQB Y0, Y2, Y5
	VPCMPEQB Y0, Y3, Y6
	VPOR Y4, Y5, Y5
	VPOR Y5, Y6, Y6
	VPMOVMSKB Y6, DX
	TESTL DX, DX
	JNZ  found
	ADDQ $32, AX
	JMP  single

found:
	BSFL DX, DX
	ADDQ DX, AX

done:
	VZEROUPPER
	MOVQ AX, ret+24(FP)
	RET
