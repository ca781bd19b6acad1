//! CPU features detected at run time, for kernels compiled twice: once for the baseline
//! target and once with `#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]`
//! around the same `#[inline(always)]` code, so the compiler vectorizes it with 512-bit
//! and mask registers (and instructions the baseline lacks: int64 ↔ double conversion,
//! 64-bit integer min/max). The choice is made once per call (per batch and column),
//! never per row; `is_x86_feature_detected!` caches the answer.

/// Whether the CPU has AVX-512 F, BW, DQ and VL (the set the AVX-512 kernels are built
/// for). Always false off x86-64.
#[inline]
pub fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The body of a function whose work is one call, `$call`, of `#[inline(always)]` code
/// over the arguments `$arg`: `$call` compiled for AVX-512 (F, BW, DQ, VL) when
/// [`has_avx512`], else as built. Written as the whole body of the function, with the
/// function's own parameters (and generic parameter, if any):
///
/// ```ignore
/// fn kernel<T: Bound>(values: &[T], x: T) -> Out {
///     avx512_or_baseline!(<T: Bound> (values: &[T], x: T) -> Out => kernel_loop(values, x))
/// }
/// ```
macro_rules! avx512_or_baseline {
    ($(<$g:ident: $bound:path>)? ($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty => $call:expr) => {{
        #[cfg(target_arch = "x86_64")]
        if $crate::simd::has_avx512() {
            #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
            fn wide$(<$g: $bound>)?($($arg: $ty),*) -> $ret {
                $call
            }
            // SAFETY: the features were detected just above.
            return unsafe { wide($($arg),*) };
        }
        $call
    }};
}
pub(crate) use avx512_or_baseline;
