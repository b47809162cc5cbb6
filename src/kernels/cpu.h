/* cpu.h — what this CPU can run and what the environment allows, for the run-time
 * choice of kernel levels (quant.c, gemm.c): WHALE_NO_SIMD, WHALE_NO_AVX512 and
 * WHALE_NO_AMX count as set when non-empty and not "0". */
#ifndef WH_KERNELS_CPU_H
#define WH_KERNELS_CPU_H

/* AVX2 with FMA and F16C. */
int wh_cpu_avx2(void);
/* wh_cpu_avx2() and AVX-512 F, BW, VL, DQ and VNNI. */
int wh_cpu_avx512(void);

#endif
