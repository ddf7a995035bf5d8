/* A small stand-in for numpy's bundled OpenBLAS (libscipy_openblas64_-*.so, 23 MB + libgfortran).
 *
 * Why: in the desktop bundle numpy serves only pyqtgraph's 2-D plots (the Usage tab), which never
 * multiply big matrices. numpy's core still links the 22 CBLAS routines below (dot, matmul, inner
 * products), so they are here, written plainly (correct, not fast: loops in the reference order),
 * with numpy's ILP64 names (scipy_cblas_*64_, 64-bit integers). numpy.linalg's LAPACK routines
 * are linked too but not in this library's scope: each one says so on stderr and returns
 * info = -1 (an illegal argument), which numpy turns into LinAlgError / NaN instead of a result.
 * Built by packaging/blas_shim.py; tests/unit/test_packaging.py compares it with OpenBLAS.
 */
#include <complex.h>
#include <stdint.h>
#include <stdio.h>

typedef int64_t blasint;
enum { RowMajor = 101, ColMajor = 102 };
enum { NoTrans = 111, Trans = 112, ConjTrans = 113, ConjNoTrans = 114 };
enum { Upper = 121, Lower = 122 };

#define AT(M, order, ld, r, c) ((order) == RowMajor ? (M)[(r) * (ld) + (c)] : (M)[(r) + (c) * (ld)])
#define PTR(M, order, ld, r, c) ((order) == RowMajor ? &(M)[(r) * (ld) + (c)] : &(M)[(r) + (c) * (ld)])
#define START(n, inc) ((inc) < 0 ? (1 - (n)) * (inc) : 0)

#define REAL_CONJ(x) (x)
#define CPLX_CONJ_f(x) conjf(x)
#define CPLX_CONJ_d(x) conj(x)

/* op(A)(i, p) for an M-by-K op(A) stored as order/lda */
#define OPA(T, CONJ, A, order, lda, trans, i, p)                                   \
    ((trans) == NoTrans       ? AT(A, order, lda, i, p)                            \
     : (trans) == Trans       ? AT(A, order, lda, p, i)                            \
     : (trans) == ConjTrans   ? CONJ(AT(A, order, lda, p, i))                      \
                              : CONJ(AT(A, order, lda, i, p)))

#define DEFINE_ALL(P, T, CONJ, SCAL, LOAD)                                                        \
    static T P##_dot_impl(blasint n, const T *x, blasint incx, const T *y, blasint incy,          \
                          int conj_x) {                                                            \
        T sum = 0;                                                                                 \
        blasint ix = START(n, incx), iy = START(n, incy);                                          \
        for (blasint i = 0; i < n; i++, ix += incx, iy += incy)                                    \
            sum += (conj_x ? CONJ(x[ix]) : x[ix]) * y[iy];                                         \
        return sum;                                                                                \
    }                                                                                              \
    void scipy_cblas_##P##axpy64_(blasint n, SCAL alpha, const T *x, blasint incx, T *y,          \
                                  blasint incy) {                                                  \
        T a = LOAD(alpha);                                                                         \
        blasint ix = START(n, incx), iy = START(n, incy);                                          \
        for (blasint i = 0; i < n; i++, ix += incx, iy += incy) y[iy] += a * x[ix];                \
    }                                                                                              \
    void scipy_cblas_##P##gemv64_(int order, int trans, blasint m, blasint n, SCAL alpha,         \
                                  const T *A, blasint lda, const T *x, blasint incx, SCAL beta,   \
                                  T *y, blasint incy) {                                            \
        T a = LOAD(alpha), b = LOAD(beta);                                                         \
        int t = trans == NoTrans || trans == ConjNoTrans;                                          \
        blasint rows = t ? m : n, cols = t ? n : m;                                                \
        blasint iy = START(rows, incy);                                                            \
        for (blasint i = 0; i < rows; i++, iy += incy) {                                           \
            T sum = 0;                                                                             \
            blasint ix = START(cols, incx);                                                        \
            for (blasint j = 0; j < cols; j++, ix += incx)                                         \
                sum += OPA(T, CONJ, A, order, lda, trans, i, j) * x[ix];                           \
            y[iy] = (b == 0 ? 0 : b * y[iy]) + a * sum;                                            \
        }                                                                                          \
    }                                                                                              \
    void scipy_cblas_##P##gemm64_(int order, int ta, int tb, blasint m, blasint n, blasint k,     \
                                  SCAL alpha, const T *A, blasint lda, const T *B, blasint ldb,   \
                                  SCAL beta, T *C, blasint ldc) {                                  \
        T a = LOAD(alpha), b = LOAD(beta);                                                         \
        for (blasint i = 0; i < m; i++)                                                            \
            for (blasint j = 0; j < n; j++) {                                                      \
                T sum = 0;                                                                         \
                for (blasint p = 0; p < k; p++)                                                    \
                    sum += OPA(T, CONJ, A, order, lda, ta, i, p) *                                 \
                           OPA(T, CONJ, B, order, ldb, tb, p, j);                                  \
                T *c = PTR(C, order, ldc, i, j);                                                    \
                *c = (b == 0 ? 0 : b * *c) + a * sum;                                              \
            }                                                                                      \
    }                                                                                              \
    void scipy_cblas_##P##syrk64_(int order, int uplo, int trans, blasint n, blasint k,           \
                                  SCAL alpha, const T *A, blasint lda, SCAL beta, T *C,           \
                                  blasint ldc) {                                                   \
        T a = LOAD(alpha), b = LOAD(beta);                                                         \
        int tr = trans == NoTrans ? NoTrans : Trans; /* syrk: no conjugation */                    \
        for (blasint i = 0; i < n; i++)                                                            \
            for (blasint j = 0; j < n; j++) {                                                      \
                if (uplo == Upper ? j < i : j > i) continue;                                       \
                T sum = 0;                                                                         \
                for (blasint p = 0; p < k; p++)                                                    \
                    sum += OPA(T, REAL_CONJ, A, order, lda, tr, i, p) *                            \
                           OPA(T, REAL_CONJ, A, order, lda, tr, j, p);                             \
                T *c = PTR(C, order, ldc, i, j);                                                    \
                *c = (b == 0 ? 0 : b * *c) + a * sum;                                              \
            }                                                                                      \
    }

#define LOAD_REAL(x) (x)
#define LOAD_CF(x) (*(const float complex *)(x))
#define LOAD_CD(x) (*(const double complex *)(x))

DEFINE_ALL(s, float, REAL_CONJ, float, LOAD_REAL)
DEFINE_ALL(d, double, REAL_CONJ, double, LOAD_REAL)
DEFINE_ALL(c, float complex, CPLX_CONJ_f, const void *, LOAD_CF)
DEFINE_ALL(z, double complex, CPLX_CONJ_d, const void *, LOAD_CD)

float scipy_cblas_sdot64_(blasint n, const float *x, blasint incx, const float *y, blasint incy) {
    return s_dot_impl(n, x, incx, y, incy, 0);
}
double scipy_cblas_ddot64_(blasint n, const double *x, blasint incx, const double *y,
                           blasint incy) {
    return d_dot_impl(n, x, incx, y, incy, 0);
}
#define CDOT(P, T, NAME, CONJX)                                                               \
    void scipy_cblas_##P##NAME##_sub64_(blasint n, const void *x, blasint incx, const void *y, \
                                        blasint incy, void *ret) {                            \
        *(T *)ret = P##_dot_impl(n, (const T *)x, incx, (const T *)y, incy, CONJX);          \
    }
CDOT(c, float complex, dotu, 0)
CDOT(c, float complex, dotc, 1)
CDOT(z, double complex, dotu, 0)
CDOT(z, double complex, dotc, 1)

/* numpy.linalg's LAPACK (and the ?copy it uses with it): not in this bundle. The Fortran ABI
 * passes every argument by pointer; `info` is the last integer pointer, at a different place
 * per routine, so each stub is given its index. */
#include <stdarg.h>
static void left_out(const char *name) {
    fprintf(stderr,
            "erigolem bundle: numpy.linalg (%s) is left out of this build; "
            "the app's charts do not use it\n",
            name);
}
#define LAPACK(NAME, INFO_AT)                                                     \
    void scipy_##NAME##_64_(void *a0, ...) {                                      \
        va_list ap;                                                               \
        va_start(ap, a0);                                                         \
        void *arg = a0;                                                           \
        for (int i = 1; i < INFO_AT; i++) arg = va_arg(ap, void *);               \
        va_end(ap);                                                               \
        left_out(#NAME);                                                          \
        *(blasint *)arg = -1;                                                     \
    }
/* argument positions of INFO (1-based) from the LAPACK reference signatures */
LAPACK(sgesv, 8) LAPACK(dgesv, 8) LAPACK(cgesv, 8) LAPACK(zgesv, 8)
LAPACK(sgetrf, 6) LAPACK(dgetrf, 6) LAPACK(cgetrf, 6) LAPACK(zgetrf, 6)
LAPACK(spotrf, 5) LAPACK(dpotrf, 5) LAPACK(cpotrf, 5) LAPACK(zpotrf, 5)
LAPACK(ssyevd, 11) LAPACK(dsyevd, 11) LAPACK(cheevd, 13) LAPACK(zheevd, 13)
LAPACK(sgeev, 14) LAPACK(dgeev, 14) LAPACK(zgeev, 14)
LAPACK(sgesdd, 14) LAPACK(dgesdd, 14) LAPACK(cgesdd, 15) LAPACK(zgesdd, 15)
LAPACK(sgelsd, 14) LAPACK(dgelsd, 14) LAPACK(cgelsd, 15) LAPACK(zgelsd, 15)
LAPACK(dgeqrf, 8) LAPACK(zgeqrf, 8) LAPACK(dorgqr, 9) LAPACK(zungqr, 9)

#define COPY(P, T)                                                                        \
    void scipy_##P##copy_64_(const blasint *n, const T *x, const blasint *incx, T *y,     \
                             const blasint *incy) {                                       \
        blasint ix = START(*n, *incx), iy = START(*n, *incy);                             \
        for (blasint i = 0; i < *n; i++, ix += *incx, iy += *incy) y[iy] = x[ix];         \
    }
COPY(s, float)
COPY(d, double)
COPY(c, float complex)
COPY(z, double complex)
