/* L-BFGS (torch.optim.LBFGS, torch 1.13): the two-loop recursion over a
 * history of curvature pairs, with no line search or a strong-Wolfe one.
 * Vectors (the flat gradient, the direction, the history) live on the
 * device; the scalars that steer the algorithm (dot products, step length,
 * the line search's bracket) come to the host, as in torch they become
 * Python numbers. The vector work the graph's ops don't do is the
 * backend's (cg__vreduce, and cg__backend's optim: axpy_at). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "optim_internal.h"

struct cg__lbfgs {
    cg_context *ctx;
    cg_tensor **params;
    size_t count, n; /* parameters, total elements */
    /* state kept across steps, as torch's state dict */
    cg_tensor *d, *prev_flat_grad, *flat_grad;
    cg_tensor **old_dirs, **old_stps;
    double *ro;
    size_t nold, cap;
    double t, H_diag, prev_loss;
    long n_iter, func_evals;
    bool has_d;
};

/* ---- vector helpers --------------------------------------------------- */

static cg_tensor *vec(cg__lbfgs *s) { return cg__tensor_new(s->ctx, CG_SHAPE(s->n), false, "lbfgs"); }

/* kind 0: dot(a, b); 1: sum |a|; 2: max |a|. */
static double vreduce(cg__lbfgs *s, const cg_tensor *a, const cg_tensor *b, int kind)
{
    cg_context *ctx = s->ctx;
    if (ctx->status) return NAN;
    float v = NAN;
    cg__vreduce(ctx, a, b, s->n, kind, &v);
    return v;
}

static void vcopy(cg__lbfgs *s, cg_tensor *dst, const cg_tensor *src)
{
    cg__block_copy(s->ctx, src, 0, 0, dst, 0, 0, 1, s->n, false);
}

/* dst = src * f */
static void vscale(cg__lbfgs *s, cg_tensor *dst, const cg_tensor *src, double f)
{
    cg__unary_into(s->ctx, 3 /* CG_U_MUL_S */, src, dst, (float)f);
}

/* params[i] += t * d[offset_i ...]  (torch's _add_grad) */
static void add_to_params(cg__lbfgs *s, double t, const cg_tensor *d)
{
    cg_context *ctx = s->ctx;
    size_t off = 0;
    float a = (float)t;
    for (size_t i = 0; i < s->count && !ctx->status; i++) {
        cg_tensor *p = s->params[i];
        ctx->backend->optim->axpy_at(ctx, p, a, d, off);
        off += p->numel;
    }
}

/* The parameters' gradients side by side (zeros for a missing one). */
static void gather_flat_grad(cg__lbfgs *s, cg_tensor *flat)
{
    size_t off = 0;
    for (size_t i = 0; i < s->count; i++) {
        cg_tensor *p = s->params[i];
        cg_tensor *g = p->grad ? p->grad : cg__grad(p); /* a zero gradient */
        if (g) cg__block_copy(s->ctx, g, 0, 0, flat, off, 0, 1, p->numel, false);
        off += p->numel;
    }
}

/* x = the parameters side by side, or back. */
static void params_flat(cg__lbfgs *s, cg_tensor *x, bool to_params)
{
    size_t off = 0;
    for (size_t i = 0; i < s->count; i++) {
        cg_tensor *p = s->params[i];
        if (to_params)
            cg__block_copy(s->ctx, x, off, 0, p, 0, 0, 1, p->numel, false);
        else
            cg__block_copy(s->ctx, p, 0, 0, x, off, 0, 1, p->numel, false);
        off += p->numel;
    }
}

/* ---- lifecycle ---------------------------------------------------------- */

void cg__lbfgs_free(cg__lbfgs *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->nold; i++) {
        cg__tensor_release(s->old_dirs[i]);
        cg__tensor_release(s->old_stps[i]);
    }
    free(s->old_dirs);
    free(s->old_stps);
    free(s->ro);
    cg__tensor_release(s->d);
    cg__tensor_release(s->prev_flat_grad);
    cg__tensor_release(s->flat_grad);
    free(s);
}

cg__lbfgs *cg__lbfgs_new(cg_context *ctx, cg_tensor **params, size_t count)
{
    cg__lbfgs *s = cg__calloc(1, sizeof *s);
    if (!s) return NULL;
    s->ctx = ctx;
    s->params = params;
    s->count = count;
    for (size_t i = 0; i < count; i++) s->n += params[i]->numel;
    s->flat_grad = vec(s);
    s->d = vec(s);
    s->prev_flat_grad = vec(s);
    if (!s->flat_grad || !s->d || !s->prev_flat_grad) {
        cg__lbfgs_free(s);
        return NULL;
    }
    return s;
}

/* ---- the line search ------------------------------------------------------ */

static double cubic_interpolate(double x1, double f1, double g1, double x2, double f2, double g2,
                                const double *bounds)
{
    double lo, hi;
    if (bounds) {
        lo = bounds[0];
        hi = bounds[1];
    } else {
        lo = x1 <= x2 ? x1 : x2;
        hi = x1 <= x2 ? x2 : x1;
    }
    double d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2);
    double d2_square = d1 * d1 - g1 * g2;
    if (d2_square >= 0) {
        double d2 = sqrt(d2_square), min_pos;
        if (x1 <= x2)
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2));
        else
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
        return fmin(fmax(min_pos, lo), hi);
    }
    return (lo + hi) / 2.;
}

/* loss and gradient at x + t d (the parameters are restored to x after). */
static double directional_evaluate(cg__lbfgs *s, cg_closure_fn closure, void *user,
                                   const cg_tensor *x, double t, const cg_tensor *d,
                                   cg_tensor *g_out)
{
    add_to_params(s, t, d);
    double loss = closure(user);
    gather_flat_grad(s, g_out);
    params_flat(s, (cg_tensor *)x, true);
    return loss;
}

/* torch's _strong_wolfe: returns f_new; g (in/out) becomes g_new; *t the step. */
static double strong_wolfe(cg__lbfgs *s, cg_closure_fn closure, void *user, const cg_tensor *x,
                           double *t_io, const cg_tensor *d, double f, cg_tensor *g, double gtd,
                           double tolerance_change, long *evals)
{
    const double c1 = 1e-4, c2 = 0.9;
    const int max_ls = 25;
    double t = *t_io;
    double d_norm = vreduce(s, d, NULL, 2);
    /* vectors: the current and previous trial gradients, the bracket's two */
    cg_tensor *g_new = vec(s), *g_prev = vec(s), *bg[2] = {vec(s), vec(s)};
    double f_new = NAN;
    if (!g_new || !g_prev || !bg[0] || !bg[1]) goto out;
    f_new = directional_evaluate(s, closure, user, x, t, d, g_new);
    long ls_evals = 1;
    double gtd_new = vreduce(s, g_new, d, 0);
    double t_prev = 0, f_prev = f, gtd_prev = gtd;
    vcopy(s, g_prev, g);
    bool done = false;
    int ls_iter = 0;
    double bracket[2] = {0, 0}, bracket_f[2] = {0, 0}, bracket_gtd[2] = {0, 0};
    int nb = 0;
    while (ls_iter < max_ls && !s->ctx->status) {
        if (f_new > (f + c1 * t * gtd) || (ls_iter > 1 && f_new >= f_prev)) {
            bracket[0] = t_prev, bracket[1] = t;
            bracket_f[0] = f_prev, bracket_f[1] = f_new;
            vcopy(s, bg[0], g_prev), vcopy(s, bg[1], g_new);
            bracket_gtd[0] = gtd_prev, bracket_gtd[1] = gtd_new;
            nb = 2;
            break;
        }
        if (fabs(gtd_new) <= -c2 * gtd) {
            bracket[0] = t;
            bracket_f[0] = f_new;
            vcopy(s, bg[0], g_new);
            nb = 1;
            done = true;
            break;
        }
        if (gtd_new >= 0) {
            bracket[0] = t_prev, bracket[1] = t;
            bracket_f[0] = f_prev, bracket_f[1] = f_new;
            vcopy(s, bg[0], g_prev), vcopy(s, bg[1], g_new);
            bracket_gtd[0] = gtd_prev, bracket_gtd[1] = gtd_new;
            nb = 2;
            break;
        }
        double bounds[2] = {t + 0.01 * (t - t_prev), t * 10};
        double tmp = t;
        t = cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds);
        t_prev = tmp;
        f_prev = f_new;
        vcopy(s, g_prev, g_new);
        gtd_prev = gtd_new;
        f_new = directional_evaluate(s, closure, user, x, t, d, g_new);
        ls_evals++;
        gtd_new = vreduce(s, g_new, d, 0);
        ls_iter++;
    }
    if (ls_iter == max_ls) {
        bracket[0] = 0, bracket[1] = t;
        bracket_f[0] = f, bracket_f[1] = f_new;
        vcopy(s, bg[0], g), vcopy(s, bg[1], g_new);
        nb = 2;
    }
    bool insuf_progress = false;
    int low = 0, high = 1;
    if (nb == 2 && !(bracket_f[0] <= bracket_f[1])) low = 1, high = 0;
    while (!done && ls_iter < max_ls && !s->ctx->status) {
        if (fabs(bracket[1] - bracket[0]) * d_norm < tolerance_change) break;
        t = cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1],
                              bracket_gtd[1], NULL);
        double bmax = fmax(bracket[0], bracket[1]), bmin = fmin(bracket[0], bracket[1]);
        double eps = 0.1 * (bmax - bmin);
        if (fmin(bmax - t, t - bmin) < eps) {
            if (insuf_progress || t >= bmax || t <= bmin) {
                t = fabs(t - bmax) < fabs(t - bmin) ? bmax - eps : bmin + eps;
                insuf_progress = false;
            } else {
                insuf_progress = true;
            }
        } else {
            insuf_progress = false;
        }
        f_new = directional_evaluate(s, closure, user, x, t, d, g_new);
        ls_evals++;
        gtd_new = vreduce(s, g_new, d, 0);
        ls_iter++;
        if (f_new > (f + c1 * t * gtd) || f_new >= bracket_f[low]) {
            bracket[high] = t;
            bracket_f[high] = f_new;
            vcopy(s, bg[high], g_new);
            bracket_gtd[high] = gtd_new;
            if (bracket_f[0] <= bracket_f[1]) low = 0, high = 1;
            else low = 1, high = 0;
        } else {
            if (fabs(gtd_new) <= -c2 * gtd)
                done = true;
            else if (gtd_new * (bracket[high] - bracket[low]) >= 0) {
                bracket[high] = bracket[low];
                bracket_f[high] = bracket_f[low];
                vcopy(s, bg[high], bg[low]);
                bracket_gtd[high] = bracket_gtd[low];
            }
            bracket[low] = t;
            bracket_f[low] = f_new;
            vcopy(s, bg[low], g_new);
            bracket_gtd[low] = gtd_new;
        }
    }
    *t_io = bracket[low];
    f_new = bracket_f[low];
    vcopy(s, g, bg[low]);
    *evals = ls_evals;
out:
    cg__tensor_release(g_new);
    cg__tensor_release(g_prev);
    cg__tensor_release(bg[0]);
    cg__tensor_release(bg[1]);
    return s->ctx->status ? NAN : f_new;
}

/* ---- the step --------------------------------------------------------------- */

static bool history_push(cg__lbfgs *s, cg_tensor *y, cg_tensor *st, double ro, int history_size)
{
    if ((int)s->nold == history_size) { /* drop the oldest */
        cg__tensor_release(s->old_dirs[0]);
        cg__tensor_release(s->old_stps[0]);
        memmove(s->old_dirs, s->old_dirs + 1, (s->nold - 1) * sizeof *s->old_dirs);
        memmove(s->old_stps, s->old_stps + 1, (s->nold - 1) * sizeof *s->old_stps);
        memmove(s->ro, s->ro + 1, (s->nold - 1) * sizeof *s->ro);
        s->nold--;
    }
    if (s->nold == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 8;
        cg_tensor **a = cg__realloc(s->old_dirs, cap * sizeof *a);
        if (a) s->old_dirs = a;
        cg_tensor **b = cg__realloc(s->old_stps, cap * sizeof *b);
        if (b) s->old_stps = b;
        double *r = cg__realloc(s->ro, cap * sizeof *r);
        if (r) s->ro = r;
        if (!a || !b || !r) return false;
        s->cap = cap;
    }
    s->old_dirs[s->nold] = y;
    s->old_stps[s->nold] = st;
    s->ro[s->nold++] = ro;
    return true;
}

float cg__lbfgs_step(cg__lbfgs *s, const cg_optim_options *o, cg_closure_fn closure,
                     void *user)
{
    cg_context *ctx = s->ctx;
    const double lr = o->lr, tol_change = o->tolerance_change;
    const int max_iter = o->max_iter;
    const int max_eval = o->max_eval > 0 ? o->max_eval : max_iter * 5 / 4;
    double orig_loss = closure(user);
    double loss = orig_loss;
    long current_evals = 1;
    s->func_evals++;
    gather_flat_grad(s, s->flat_grad);
    if (ctx->status) return NAN;
    bool opt_cond = vreduce(s, s->flat_grad, NULL, 2) <= o->tolerance_grad;
    if (opt_cond) return (float)orig_loss;
    cg_tensor *x_init = o->strong_wolfe ? vec(s) : NULL;
    int n_iter = 0;
    while (n_iter < max_iter && !ctx->status) {
        n_iter++;
        s->n_iter++;
        if (s->n_iter == 1) {
            vscale(s, s->d, s->flat_grad, -1.0);
            for (size_t i = 0; i < s->nold; i++) {
                cg__tensor_release(s->old_dirs[i]);
                cg__tensor_release(s->old_stps[i]);
            }
            s->nold = 0;
            s->H_diag = 1;
        } else {
            /* y = g - g_prev, s = d t, curvature pair when y.s > 1e-10 */
            cg_tensor *y = vec(s), *st = vec(s);
            if (!y || !st) {
                cg__tensor_release(y);
                cg__tensor_release(st);
                break;
            }
            vcopy(s, y, s->flat_grad);
            cg_add_scaled_(y, -1.0f, s->prev_flat_grad);
            vscale(s, st, s->d, s->t);
            double ys = vreduce(s, y, st, 0);
            if (ys > 1e-10) {
                if (!history_push(s, y, st, (float)(1. / ys), o->history_size)) {
                    cg__tensor_release(y); /* the history did not take them */
                    cg__tensor_release(st);
                    cg__fail(ctx, CG_ERROR_NO_MEMORY, "cg_step_closure: out of memory");
                    break;
                }
                s->H_diag = (float)(ys / vreduce(s, y, y, 0));
            } else {
                cg__tensor_release(y);
                cg__tensor_release(st);
            }
            /* the two-loop recursion: d = -H g */
            double *al = cg__calloc(s->nold + 1, sizeof *al);
            if (!al) {
                cg__fail(ctx, CG_ERROR_NO_MEMORY, "cg_step_closure: out of memory");
                break;
            }
            cg_tensor *q = s->d; /* d is rebuilt in place */
            vscale(s, q, s->flat_grad, -1.0);
            for (size_t i = s->nold; i-- > 0;) {
                al[i] = (float)(vreduce(s, s->old_stps[i], q, 0) * s->ro[i]);
                cg_add_scaled_(q, (float)-al[i], s->old_dirs[i]);
            }
            vscale(s, q, q, s->H_diag);
            for (size_t i = 0; i < s->nold; i++) {
                double be_i = (float)(vreduce(s, s->old_dirs[i], q, 0) * s->ro[i]);
                cg_add_scaled_(q, (float)(al[i] - be_i), s->old_stps[i]);
            }
            free(al);
        }
        vcopy(s, s->prev_flat_grad, s->flat_grad);
        s->prev_loss = loss;
        if (s->n_iter == 1)
            s->t = fmin(1., 1. / (float)vreduce(s, s->flat_grad, NULL, 1)) * lr;
        else
            s->t = lr;
        double gtd = vreduce(s, s->flat_grad, s->d, 0);
        if (gtd > -tol_change) break;
        long ls_evals = 0;
        if (o->strong_wolfe) {
            params_flat(s, x_init, false);
            loss = strong_wolfe(s, closure, user, x_init, &s->t, s->d, loss, s->flat_grad, gtd,
                                tol_change, &ls_evals);
            add_to_params(s, s->t, s->d);
            opt_cond = vreduce(s, s->flat_grad, NULL, 2) <= o->tolerance_grad;
        } else {
            add_to_params(s, s->t, s->d);
            if (n_iter != max_iter) {
                loss = closure(user);
                gather_flat_grad(s, s->flat_grad);
                opt_cond = vreduce(s, s->flat_grad, NULL, 2) <= o->tolerance_grad;
                ls_evals = 1;
            }
        }
        current_evals += ls_evals;
        s->func_evals += ls_evals;
        if (n_iter == max_iter) break;
        if (current_evals >= max_eval) break;
        if (opt_cond) break;
        if (vreduce(s, s->d, NULL, 2) * fabs(s->t) <= tol_change) break;
        if (fabs(loss - s->prev_loss) < tol_change) break;
    }
    cg__tensor_release(x_init);
    return ctx->status ? NAN : (float)orig_loss;
}

/* ---- state save/restore -----------------------------------------------------
 * Counters and doubles travel as 16-bit pieces, each an exact small integer
 * in a float, so any float copy preserves them; vectors travel as floats.
 * Layout: version, n, nold, n_iter, func_evals, has_d, t, H_diag, prev_loss,
 * ro[nold], then d, prev_flat_grad, old_dirs[nold], old_stps[nold]. */

#define LBFGS_STATE_VERSION 1
#define WORDS_U64 4
#define HEADER_FLOATS (6 * WORDS_U64 + 3 * WORDS_U64)

static void put_u64(float *dst, uint64_t v)
{
    for (int i = 0; i < WORDS_U64; i++) dst[i] = (float)((v >> (16 * i)) & 0xFFFF);
}

static uint64_t get_u64(const float *src)
{
    uint64_t v = 0;
    for (int i = 0; i < WORDS_U64; i++) v |= (uint64_t)(uint32_t)src[i] << (16 * i);
    return v;
}

static void put_f64(float *dst, double d)
{
    uint64_t v;
    memcpy(&v, &d, sizeof v);
    put_u64(dst, v);
}

static double get_f64(const float *src)
{
    uint64_t v = get_u64(src);
    double d;
    memcpy(&d, &v, sizeof d);
    return d;
}

static size_t state_floats(size_t n, size_t nold)
{
    return HEADER_FLOATS + nold * WORDS_U64 + (2 + 2 * nold) * n;
}

size_t cg__lbfgs_state_size(const cg__lbfgs *s) { return state_floats(s->n, s->nold); }

static void vec_io(cg__lbfgs *s, cg_tensor *t, float *buf, bool save)
{
    if (save)
        cg_tensor_read(t, buf, s->n);
    else
        cg_tensor_write(t, buf, s->n);
}

cg_status cg__lbfgs_state_io(cg__lbfgs *s, float *buf, size_t count, bool save, const char *what)
{
    cg_context *ctx = s->ctx;
    if (save) {
        if (count != cg__lbfgs_state_size(s))
            return cg__fail(ctx, CG_ERROR_SHAPE_MISMATCH,
                            "%s: %zu floats given, the state has %zu", what, count,
                            cg__lbfgs_state_size(s));
        const uint64_t head[6] = {LBFGS_STATE_VERSION, s->n, s->nold, (uint64_t)s->n_iter,
                                  (uint64_t)s->func_evals, s->has_d || s->n_iter > 0};
        for (int i = 0; i < 6; i++) put_u64(buf + i * WORDS_U64, head[i]);
        put_f64(buf + 6 * WORDS_U64, s->t);
        put_f64(buf + 7 * WORDS_U64, s->H_diag);
        put_f64(buf + 8 * WORDS_U64, s->prev_loss);
    } else {
        if (count < HEADER_FLOATS || get_u64(buf) != LBFGS_STATE_VERSION ||
            get_u64(buf + WORDS_U64) != s->n)
            return cg__fail(ctx, CG_ERROR_INVALID_DATA,
                            "%s: not an lbfgs state of %zu parameters", what, s->n);
        size_t nold = (size_t)get_u64(buf + 2 * WORDS_U64);
        if (count != state_floats(s->n, nold))
            return cg__fail(ctx, CG_ERROR_SHAPE_MISMATCH,
                            "%s: %zu floats given, that state has %zu", what, count,
                            state_floats(s->n, nold));
        for (size_t i = 0; i < s->nold; i++) {
            cg__tensor_release(s->old_dirs[i]);
            cg__tensor_release(s->old_stps[i]);
        }
        s->nold = 0;
        for (size_t i = 0; i < nold; i++) {
            cg_tensor *y = vec(s), *st = vec(s);
            if (!y || !st || !history_push(s, y, st, 0.0, (int)nold + 1))
                return cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", what);
        }
        s->n_iter = (long)get_u64(buf + 3 * WORDS_U64);
        s->func_evals = (long)get_u64(buf + 4 * WORDS_U64);
        s->has_d = get_u64(buf + 5 * WORDS_U64) != 0;
        s->t = get_f64(buf + 6 * WORDS_U64);
        s->H_diag = get_f64(buf + 7 * WORDS_U64);
        s->prev_loss = get_f64(buf + 8 * WORDS_U64);
    }
    float *p = buf + HEADER_FLOATS;
    for (size_t i = 0; i < s->nold; i++, p += WORDS_U64) {
        if (save)
            put_f64(p, s->ro[i]);
        else
            s->ro[i] = get_f64(p);
    }
    vec_io(s, s->d, p, save);
    p += s->n;
    vec_io(s, s->prev_flat_grad, p, save);
    p += s->n;
    for (size_t i = 0; i < s->nold; i++, p += s->n) vec_io(s, s->old_dirs[i], p, save);
    for (size_t i = 0; i < s->nold; i++, p += s->n) vec_io(s, s->old_stps[i], p, save);
    return ctx->status;
}
