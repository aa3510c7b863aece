/* The optimizers' arithmetic on the device against the reference path, bit
 * for bit. The rules are one text (src/kernels/optim_rules.clh) that the
 * kernels run and the reference path compiles as C; what can still differ is
 * the device's arithmetic: / and sqrt rounded loosely (OpenCL allows 2.5 and
 * 3 ulp unless asked: cg__optim_cl_options asks), operations fused into fma,
 * denormals flushed, a library function (pown, pow) rounded its own way.
 * Every optimizer with a rule, every option that changes the rule, awkward
 * sizes and values, several steps, through cg_step; SparseAdam through an
 * embedding; the fused trainers' per-step scalars through a probe kernel.
 * Also: the descriptor table is consistent with the enums and the kernels'
 * ids. On the ref run the "device" is the reference path itself. */
#include "helpers.h"
#include "optim_table.h"

#include "../src/kernels/optim_rules.clh"

/* ---- the table ------------------------------------------------------------ */

Test(optim_rules, every_kind_has_a_consistent_descriptor)
{
    cg_context *ctx = ref_context();
    cr_assert_null(cg__optim_desc_of((cg_optim_kind)-1));
    cr_assert_null(cg__optim_desc_of(CG_OPTIM_KIND_COUNT));
    int rules = 0;
    for (int k = 0; k < CG_OPTIM_KIND_COUNT; k++) {
        const cg__optim_desc *d = cg__optim_desc_of((cg_optim_kind)k);
        cr_assert_not_null(d, "kind %d", k);
        cr_assert_str_eq(cg_optim_name((cg_optim_kind)k), d->name);
        for (int j = 0; j < k; j++)
            cr_assert_str_neq(d->name, cg_optim_name((cg_optim_kind)j));
        /* a rule's id is the kind's value (the _Static_asserts in optim_table.c) */
        if (d->stepping == CG__STEP_RULE) {
            cr_assert_eq(d->rule, k, "%s", d->name);
            rules++;
        } else {
            cr_assert_eq(d->rule, -1, "%s", d->name);
        }
        cg_optim_options o = cg_optim_defaults((cg_optim_kind)k);
        cr_assert(o.lr > 0.0f && o.lr == d->lr, "%s: default lr %g", d->name, (double)o.lr);
        cr_assert_eq(cg__optim_validate(ctx, "test", (cg_optim_kind)k, &o), CG_OK, "%s: %s",
                     d->name, cg_error_message(ctx));
        int used = cg__optim_used_slots((cg_optim_kind)k, &o);
        cr_assert(used >= 0 && used < (1 << CG_OPT_STATE_SLOTS), "%s: slots %d", d->name, used);
        if (d->average) cr_assert(used & 1, "%s keeps its average in slot 0", d->name);
        for (int s = 0; s < CG_OPT_STATE_SLOTS; s++)
            if (!(used & (1 << s)))
                cr_assert_eq(cg__initial_state((cg_optim_kind)k, &o, s), 0.0f,
                             "%s: slot %d is not kept but starts at nonzero", d->name, s);
    }
    cr_assert_eq(rules, CG_OPT_RULE_COUNT);
    /* where the state starts, as torch starts it */
    cg_optim_options o = cg_optim_defaults(CG_OPTIM_ADAGRAD);
    o.initial_accumulator_value = 0.25f;
    cr_assert_eq(cg__initial_state(CG_OPTIM_ADAGRAD, &o, 0), 0.25f);
    o = cg_optim_defaults(CG_OPTIM_RPROP);
    o.lr = 0.125f;
    cr_assert_eq(cg__initial_state(CG_OPTIM_RPROP, &o, 1), 0.125f);
    float b[CG_B_COUNT];
    int flags;
    cg__optim_base(CG_OPTIM_RPROP, &o, b, &flags);
    cr_assert(b[CG_B_INIT] == 0.0f && b[CG_B_INIT + 1] == 0.125f && b[CG_B_INIT + 2] == 0.0f);
    cg_context_free(ctx);
}

/* ---- options that change a rule --------------------------------------------- */

typedef struct knob {
    const char *name;
    unsigned kinds; /* bit k: it changes kind k's arithmetic */
    void (*apply)(cg_optim_options *o);
} knob;

static void k_maximize(cg_optim_options *o) { o->maximize = true; }
static void k_weight_decay(cg_optim_options *o) { o->weight_decay = o->weight_decay ? 0 : 0.03f; }
static void k_momentum(cg_optim_options *o) { o->momentum = 0.9f; }
static void k_dampening(cg_optim_options *o) { o->dampening = 0.3f; }
static void k_nesterov(cg_optim_options *o) { o->nesterov = true; }
static void k_amsgrad(cg_optim_options *o) { o->amsgrad = true; }
static void k_centered(cg_optim_options *o) { o->centered = true; }
static void k_lr_decay(cg_optim_options *o) { o->lr_decay = 0.1f; }
static void k_initial_acc(cg_optim_options *o) { o->initial_accumulator_value = 0.2f; }
static void k_t0(cg_optim_options *o) { o->t0 = 2.0f; } /* mu leaves 1 after step 3 */

#define K(k) (1u << (k))
#define ALL_RULES ((1u << CG_OPT_RULE_COUNT) - 1)
static const knob knobs[] = {
    {"maximize", ALL_RULES | K(CG_OPTIM_SPARSE_ADAM), k_maximize},
    {"weight_decay", ALL_RULES & ~K(CG_OPTIM_RPROP), k_weight_decay},
    {"momentum", K(CG_OPTIM_SGD) | K(CG_OPTIM_RMSPROP), k_momentum},
    {"dampening", K(CG_OPTIM_SGD), k_dampening},
    {"nesterov", K(CG_OPTIM_SGD), k_nesterov},
    {"amsgrad", K(CG_OPTIM_ADAM) | K(CG_OPTIM_ADAMW), k_amsgrad},
    {"centered", K(CG_OPTIM_RMSPROP), k_centered},
    {"lr_decay", K(CG_OPTIM_ADAGRAD), k_lr_decay},
    {"initial_accumulator_value", K(CG_OPTIM_ADAGRAD), k_initial_acc},
    {"t0", K(CG_OPTIM_ASGD), k_t0},
};
#define NKNOBS (sizeof knobs / sizeof knobs[0])

/* The knobs of kind: their indices into knobs[]. */
static int kind_knobs(int kind, int *idx)
{
    int n = 0;
    for (size_t i = 0; i < NKNOBS; i++)
        if (knobs[i].kinds & K(kind)) idx[n++] = (int)i;
    return n;
}

/* kind's defaults, awkward hyper-parameters, then the knobs in subset. */
static cg_optim_options config(test_rng *r, int kind, const int *idx, unsigned subset,
                               char *label, size_t cap)
{
    cg_optim_options o = cg_optim_defaults((cg_optim_kind)kind);
    o.lr = rng_range(r, 1e-3, 0.3);
    o.betas[0] = rng_range(r, 0.5, 0.999);
    o.betas[1] = rng_range(r, 0.9, 0.9999);
    if (kind == CG_OPTIM_RMSPROP) o.alpha = rng_range(r, 0.9, 0.999);
    if (kind == CG_OPTIM_ADADELTA) o.rho = rng_range(r, 0.8, 0.99);
    if (kind == CG_OPTIM_ASGD) {
        o.lambd = rng_range(r, 1e-4, 0.05);
        o.alpha = rng_range(r, 0.5, 1.0);
    }
    int at = snprintf(label, cap, "%s", cg_optim_name((cg_optim_kind)kind));
    for (int b = 0; b < 31; b++)
        if (subset & (1u << b)) {
            knobs[idx[b]].apply(&o);
            at += snprintf(label + at, cap - (size_t)at, " %s", knobs[idx[b]].name);
        }
    return o;
}

/* A gradient or parameter value: mostly ordinary, with exact zeros (Rprop's
 * sign 0), values whose squares are denormal or vanish, and large ones. */
static float awkward(test_rng *r)
{
    double u = rng_uniform(r);
    float sign = rng_uniform(r) < 0.5 ? -1.0f : 1.0f;
    if (u < 0.08) return 0.0f;
    if (u < 0.16) return sign * rng_range(r, 1e-24, 1e-19);
    if (u < 0.22) return sign * rng_range(r, 1e3, 1e6);
    return rng_range(r, -3, 3);
}

static uint32_t bits_of(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static void assert_same_bits(const float *dev, const float *ref, size_t n, const char *what,
                             const char *label, unsigned long long seed)
{
    for (size_t i = 0; i < n; i++) {
        if (bits_of(dev[i]) == bits_of(ref[i]) || (isnan(dev[i]) && isnan(ref[i]))) continue;
        cr_assert_fail("%s: %s[%zu]: device %.9g (0x%08x), reference %.9g (0x%08x) (seed %llu)",
                       label, what, i, (double)dev[i], bits_of(dev[i]), (double)ref[i],
                       bits_of(ref[i]), seed);
    }
}

/* ---- dense rules through cg_step ---------------------------------------------- */

#define NPARAMS 6
#define NSTEPS 4

typedef struct side {
    cg_context *ctx;
    cg_tensor *p[NPARAMS];
    cg_optimizer *opt;
} side;

/* Group 0: parameters 0..3, every one with a gradient every step (one
 * launch over the arena). Group 1: parameters 4 and 5, the last without a
 * gradient at step 1, so the two step apart (one launch per parameter). */
static bool side_open(side *s, cg_context *ctx, int kind, const cg_optim_options *o,
                      float *const *init, const size_t *sizes)
{
    s->ctx = ctx;
    for (int i = 0; i < NPARAMS; i++) {
        s->p[i] = cg_tensor_from(ctx, init[i], CG_SHAPE(sizes[i]));
        cg_set_requires_grad(s->p[i], true);
    }
    s->opt = cg_optimizer_create(ctx, (cg_optim_kind)kind, s->p, 4, o);
    if (!s->opt) return false;
    cr_assert_eq(cg_optimizer_add_group(s->opt, s->p + 4, 2, o), 1, "%s",
                 cg_error_message(ctx));
    return true;
}

static void side_step(side *s, int step, float *const *grads, const size_t *sizes)
{
    cg_context *ctx = s->ctx;
    cg_zero_grad(s->opt);
    cg_tensor *loss = NULL, *c[NPARAMS] = {NULL};
    for (int i = 0; i < NPARAMS; i++) {
        if (i == NPARAMS - 1 && step == 1) continue;
        c[i] = cg_tensor_from(ctx, grads[i], CG_SHAPE(sizes[i]));
        cg_tensor *term = cg_sum(cg_mul(s->p[i], c[i])); /* its gradient: c, exactly */
        loss = loss ? cg_add(loss, term) : term;
    }
    cr_assert_eq(cg_backward(loss), CG_OK, "%s", cg_error_message(ctx));
    cr_assert_eq(cg_step(s->opt), CG_OK, "%s", cg_error_message(ctx));
    cg_tape_reset(ctx);
    for (int i = 0; i < NPARAMS; i++) cg_tensor_free(c[i]);
}

static void side_close(side *s)
{
    cg_optimizer_free(s->opt);
    for (int i = 0; i < NPARAMS; i++) cg_tensor_free(s->p[i]);
}

Test(optim_rules, every_rule_and_option_gives_the_reference_bits_through_cg_step)
{
    uint64_t seed = test_seed();
    test_rng r = {seed | 1};
    cg_context *dev = test_context(), *ref = ref_context();
    int configs = 0;
    for (int kind = 0; kind < CG_OPT_RULE_COUNT; kind++) {
        int idx[NKNOBS];
        int nk = kind_knobs(kind, idx);
        for (unsigned subset = 0; subset < (1u << nk); subset++) {
            char label[256];
            cg_optim_options o = config(&r, kind, idx, subset, label, sizeof label);
            size_t sizes[NPARAMS], total = 0;
            float *init[NPARAMS], *grads[NPARAMS];
            for (int i = 0; i < NPARAMS; i++) {
                /* 1, a few, and sizes past the vector widths and alignments */
                sizes[i] = i == 0 ? 1 : 1 + (size_t)(rng_uniform(&r) * (i < 3 ? 40 : 1100));
                init[i] = malloc(sizes[i] * sizeof(float));
                grads[i] = malloc(sizes[i] * sizeof(float));
                cr_assert(init[i] && grads[i]);
                for (size_t e = 0; e < sizes[i]; e++) init[i][e] = awkward(&r);
                total += sizes[i];
            }
            side a, b;
            if (!side_open(&a, dev, kind, &o, init, sizes)) {
                /* an invalid combination (nesterov with dampening, or without momentum) */
                cr_assert_eq(cg_status_of(dev), CG_ERROR_INVALID_ARGUMENT, "%s: %s", label,
                             cg_error_message(dev));
                cr_assert(strstr(cg_error_message(dev), "nesterov"), "%s: %s", label,
                          cg_error_message(dev));
                cg_clear_error(dev);
                side_close(&a);
                for (int i = 0; i < NPARAMS; i++) {
                    free(init[i]);
                    free(grads[i]);
                }
                continue;
            }
            cr_assert(side_open(&b, ref, kind, &o, init, sizes), "%s: %s", label,
                      cg_error_message(ref));
            for (int step = 1; step <= NSTEPS; step++) {
                for (int i = 0; i < NPARAMS; i++)
                    for (size_t e = 0; e < sizes[i]; e++) grads[i][e] = awkward(&r);
                side_step(&a, step, grads, sizes);
                side_step(&b, step, grads, sizes);
            }
            float *va = malloc(total * sizeof *va), *vb = malloc(total * sizeof *vb);
            bool moved = false;
            for (int i = 0, at = 0; i < NPARAMS; at += (int)sizes[i], i++) {
                cg_tensor_read(a.p[i], va + at, sizes[i]);
                cg_tensor_read(b.p[i], vb + at, sizes[i]);
                moved |= memcmp(vb + at, init[i], sizes[i] * sizeof(float)) != 0;
            }
            cr_assert(moved, "%s: nothing moved: the test compares nothing", label);
            assert_same_bits(va, vb, total, "parameters", label, (unsigned long long)seed);
            size_t n = cg_optimizer_state_size(a.opt);
            cr_assert_eq(n, cg_optimizer_state_size(b.opt));
            float *sa = malloc(n * sizeof *sa), *sb = malloc(n * sizeof *sb);
            cr_assert_eq(cg_optimizer_state_save(a.opt, sa, n), CG_OK);
            cr_assert_eq(cg_optimizer_state_save(b.opt, sb, n), CG_OK);
            assert_same_bits(sa, sb, n, "state", label, (unsigned long long)seed);
            free(va);
            free(vb);
            free(sa);
            free(sb);
            side_close(&a);
            side_close(&b);
            for (int i = 0; i < NPARAMS; i++) {
                free(init[i]);
                free(grads[i]);
            }
            configs++;
        }
    }
    /* 2^5 SGD subsets less the nesterov ones torch refuses, and the others' */
    cr_assert_eq(configs, 20 + 8 + 8 + 4 + 16 + 4 + 16 + 2 + 8, "%d", configs);
    cr_assert_eq(cg_status_of(dev), CG_OK, "%s", cg_error_message(dev));
    cg_context_free(dev);
    cg_context_free(ref);
}

/* ---- SparseAdam -------------------------------------------------------------- */

Test(optim_rules, sparse_adam_gives_the_reference_bits)
{
    uint64_t seed = test_seed();
    test_rng r = {seed | 1};
    enum { ROWS = 13, DIM = 7 };
    cg_context *ctx[2] = {test_context(), ref_context()};
    for (int maximize = 0; maximize <= 1; maximize++) {
        float w0[ROWS * DIM], got[2][ROWS * DIM], state[2][2 * ROWS * DIM + 1];
        for (int e = 0; e < ROWS * DIM; e++) w0[e] = awkward(&r);
        cg_optim_options o = cg_optim_defaults(CG_OPTIM_SPARSE_ADAM);
        o.lr = rng_range(&r, 1e-3, 0.3);
        o.betas[0] = rng_range(&r, 0.5, 0.95);
        o.betas[1] = rng_range(&r, 0.9, 0.9999);
        o.maximize = maximize;
        cg_tensor *w[2];
        cg_optimizer *opt[2];
        for (int s = 0; s < 2; s++) {
            w[s] = cg_tensor_from(ctx[s], w0, CG_SHAPE(ROWS, DIM));
            cg_set_requires_grad(w[s], true);
            cg_set_sparse_grad(w[s], true);
            opt[s] = cg_optimizer_create(ctx[s], CG_OPTIM_SPARSE_ADAM, &w[s], 1, &o);
            cr_assert_not_null(opt[s], "%s", cg_error_message(ctx[s]));
        }
        for (int step = 1; step <= 5; step++) {
            /* distinct rows, so the gradient's values are c's, exactly */
            unsigned rows[ROWS];
            size_t n = 0;
            for (unsigned i = 0; i < ROWS; i++)
                if (rng_uniform(&r) < 0.6) rows[n++] = (i * 5 + (unsigned)step) % ROWS;
            if (n == 0) rows[n++] = 3;
            float c[ROWS * DIM];
            for (size_t e = 0; e < n * DIM; e++) c[e] = awkward(&r);
            for (int s = 0; s < 2; s++) {
                cg_tensor *tc = cg_tensor_from(ctx[s], c, CG_SHAPE(n, DIM));
                cg_zero_grad(opt[s]);
                cg_backward(cg_sum(cg_mul(cg_embedding(w[s], rows, n), tc)));
                cr_assert_eq(cg_step(opt[s]), CG_OK, "%s", cg_error_message(ctx[s]));
                cg_tape_reset(ctx[s]);
                cg_tensor_free(tc);
            }
        }
        for (int s = 0; s < 2; s++) {
            cg_tensor_read(w[s], got[s], ROWS * DIM);
            size_t n = cg_optimizer_state_size(opt[s]);
            cr_assert_eq(n, 1 + 2 * ROWS * DIM, "the step count, m and v: %zu", n);
            cr_assert_eq(cg_optimizer_state_save(opt[s], state[s], n), CG_OK);
            cg_optimizer_free(opt[s]);
            cg_tensor_free(w[s]);
        }
        const char *label = maximize ? "sparse_adam maximize" : "sparse_adam";
        assert_same_bits(got[0], got[1], ROWS * DIM, "weight", label, (unsigned long long)seed);
        assert_same_bits(state[0], state[1], 2 * ROWS * DIM + 1, "state", label,
                         (unsigned long long)seed);
        cr_assert(memcmp(got[1], w0, sizeof w0) != 0, "the weight moved");
    }
    cg_context_free(ctx[0]);
    cg_context_free(ctx[1]);
}

/* ---- the fused trainers' per-step scalars ------------------------------------ */

/* How far apart two floats are, in units in the last place. */
static long long ulps_apart(float a, float b)
{
    int32_t x, y;
    memcpy(&x, &a, sizeof x);
    memcpy(&y, &b, sizeof y);
    if (x < 0) x = INT32_MIN - x;
    if (y < 0) y = INT32_MIN - y;
    return llabs((long long)x - (long long)y);
}

Test(optim_rules, the_fused_scalars_give_the_reference_bits)
{
    uint64_t seed = test_seed();
    test_rng r = {seed | 1};
    cg_context *dev = test_context(), *ref = ref_context();
    enum { NS = 64 + 3 * 21 + 40 };
    int steps[NS], ns = 0;
    for (int s = 1; s <= 64; s++) steps[ns++] = s;
    for (int k = 0; k <= 20; k++) {
        steps[ns++] = (1 << k) + 1;
        steps[ns++] = (1 << k) + 2;
        steps[ns++] = (1 << (k + 1)) - 1;
    }
    while (ns < NS) steps[ns++] = 1 + (int)(rng_uniform(&r) * 2e6);
    static float hd[NS * CG_H_COUNT], hr[NS * CG_H_COUNT];
    int configs = 0;
    long long asgd_max_ulps = 0;
    for (int kind = 0; kind < CG_OPT_RULE_COUNT; kind++) {
        int idx[NKNOBS];
        int nk = kind_knobs(kind, idx);
        for (unsigned subset = 0; subset < (1u << nk); subset++) {
            char label[256];
            cg_optim_options o = config(&r, kind, idx, subset, label, sizeof label);
            cr_assert_eq(cg__optim_fused_scalars(dev, (cg_optim_kind)kind, &o, steps, NS, hd),
                         CG_OK, "%s", cg_error_message(dev));
            cr_assert_eq(cg__optim_fused_scalars(ref, (cg_optim_kind)kind, &o, steps, NS, hr),
                         CG_OK, "%s", cg_error_message(ref));
            for (int i = 0; i < NS; i++) {
                float *d = hd + i * CG_H_COUNT, *e = hr + i * CG_H_COUNT;
                char what[64];
                snprintf(what, sizeof what, "h at step %d", steps[i]);
                /* ASGD's eta is lr / (1 + lambd lr (step - 1))^alpha: pow with a
                 * real exponent, which OpenCL lets a device round within 16
                 * ulp and no two libraries round alike (PoCL's and glibc's
                 * differ by an ulp on about 4% of arguments). Only eta and
                 * what is made of it (-eta, 1 - lambd eta) get room: 16 ulp
                 * of eta are at most as many in 1 - lambd eta. */
                if (kind == CG_OPTIM_ASGD && steps[i] > 1) {
                    static const int from_eta[] = {CG_H_NEG_ETA, CG_H_DECAY};
                    for (int j = 0; j < 2; j++) {
                        long long u = ulps_apart(d[from_eta[j]], e[from_eta[j]]);
                        cr_assert(u <= 16, "%s: %s[%d]: %.9g vs %.9g: %lld ulp", label, what,
                                  from_eta[j], (double)d[from_eta[j]], (double)e[from_eta[j]],
                                  u);
                        if (u > asgd_max_ulps) asgd_max_ulps = u;
                        d[from_eta[j]] = e[from_eta[j]];
                    }
                }
                assert_same_bits(d, e, CG_H_COUNT, what, label, (unsigned long long)seed);
            }
            configs++;
        }
    }
    cr_assert_eq(configs, 32 + 8 + 8 + 4 + 16 + 4 + 16 + 2 + 8);
    cr_log_info("ASGD's eta: at most %lld ulp apart", asgd_max_ulps);
    cg_context_free(dev);
    cg_context_free(ref);
}

/* cg_optim_pown (the bias corrections' beta^step, optim_rules.clh) is within
 * an ulp of the exact power: the float-float product keeps ~44 bits. */
Test(optim_rules, pown_is_within_an_ulp_of_the_exact_power)
{
    uint64_t seed = test_seed();
    test_rng r = {seed | 1};
    int exact = 0, total = 0;
    for (int i = 0; i < 200000; i++) {
        float b = i % 3 ? (float)(1.0 - pow(10.0, -4.0 * rng_uniform(&r)))
                        : rng_range(&r, 0.0, 1.0);
        int n = i % 2 ? 1 + (int)(rng_uniform(&r) * 64) : 1 + (int)(rng_uniform(&r) * 100000);
        float got = cg_optim_pown(b, n);
        double want = pow((double)b, n);
        if (want < 1e-30) continue; /* underflowing: 1 - b^n is 1 either way */
        float rounded = (float)want;
        long long u = ulps_apart(got, rounded);
        cr_assert(u <= 1, "%.9g^%d: %.9g, exactly %.17g (%lld ulp; seed %llu)", (double)b, n,
                  (double)got, want, u, (unsigned long long)seed);
        exact += u == 0;
        total++;
    }
    cr_assert(exact > total - total / 1000, "correctly rounded %d of %d", exact, total);
    cr_assert_eq(cg_optim_pown(0.5f, 3), 0.125f);
    cr_assert_eq(cg_optim_pown(0.9f, 1), 0.9f);
    cr_assert_eq(cg_optim_pown(0.0f, 7), 0.0f);
}
