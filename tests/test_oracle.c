/* Every differentiable op against PyTorch (fixtures/ops_torch.txt, made by
 * fixtures/gen_op_fixtures.py): forward values and the gradients of
 * sum(out * r) at awkward inputs, on the device under test and on ref. The
 * other op tests compare the kernels with the reference path, which shares
 * their formulas; this one compares both with an implementation that is not
 * clgrad. The tolerance rule is in the generator's docstring. */
#include "helpers.h"

#define MAX_INPUTS 8
#define MAX_PARAMS 16
#define MAX_REPORTED 6 /* mismatching elements printed per tensor */

typedef struct vec {
    float *v;
    size_t n;
} vec;

typedef struct fixture_tensor {
    int ndim; /* 0: torch's 0-d tensor, [1] in clgrad */
    size_t dims[CG_MAX_DIMS];
    vec values;
} fixture_tensor;

typedef struct oracle_case {
    char name[96], op[24];
    char params[MAX_PARAMS][24];
    int nparams;
    double rtol, atol;
    fixture_tensor in[MAX_INPUTS], r, out;
    int ninputs;
    vec outmag, grad[MAX_INPUTS], gradmag[MAX_INPUTS];
} oracle_case;

/* Where clgrad and PyTorch disagree today, with the reason. Such a case must
 * still differ: once it matches, the entry has to go (the test says so). */
typedef struct known_difference {
    const char *name;
    const char *device; /* "ref", "opencl", or NULL for both */
    const char *reason;
} known_difference;

static const known_difference known[] = {
    /* Fixed in this issue (div's divisor gradient, rdiv's, the compensated
     * broadcast sum with an infinite term, x^-0.5 as rsqrt, relu of NaN): add
     * an entry, with its cause, only for a difference that is understood and
     * cannot be fixed yet. */
    {NULL, NULL, NULL},
};

static const known_difference *known_for(const char *name, bool is_ref)
{
    for (size_t i = 0; known[i].name; i++)
        if (strcmp(known[i].name, name) == 0 &&
            (!known[i].device || strcmp(known[i].device, is_ref ? "ref" : "opencl") == 0))
            return &known[i];
    return NULL;
}

/* ---- reading the fixture ---------------------------------------------------- */

static void parse_values(const char *text, vec *out, const char *where)
{
    size_t cap = 16;
    out->v = malloc(cap * sizeof *out->v);
    out->n = 0;
    cr_assert_not_null(out->v);
    const char *p = text;
    char *end;
    for (;;) {
        float x = strtof(p, &end);
        if (end == p) break;
        if (out->n == cap) {
            cap *= 2;
            out->v = realloc(out->v, cap * sizeof *out->v);
            cr_assert_not_null(out->v);
        }
        out->v[out->n++] = x;
        p = end;
    }
    while (*p == ' ' || *p == '\n') p++;
    cr_assert_eq(*p, '\0', "%s: cannot read '%.20s'", where, p);
}

/* "<ndim> <dims...> : <values>" */
static void parse_tensor(const char *text, fixture_tensor *t, const char *where)
{
    char *end;
    t->ndim = (int)strtol(text, &end, 10);
    cr_assert(t->ndim >= 0 && t->ndim <= CG_MAX_DIMS, "%s: ndim %d", where, t->ndim);
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) {
        t->dims[i] = strtoul(end, &end, 10);
        n *= t->dims[i];
    }
    const char *colon = strchr(end, ':');
    cr_assert_not_null(colon, "%s: no ':'", where);
    parse_values(colon + 1, &t->values, where);
    cr_assert_eq(t->values.n, n, "%s: %zu values for %zu elements", where, t->values.n, n);
}

static int parse_index(const char *text, const char **rest)
{
    char *end;
    long i = strtol(text, &end, 10);
    cr_assert(i >= 0 && i < MAX_INPUTS);
    *rest = strchr(end, ':');
    cr_assert_not_null(*rest);
    (*rest)++;
    return (int)i;
}

/* Reads every case of the fixture; *count is set. */
static oracle_case *read_cases(size_t *count)
{
    FILE *f = fixture_open("ops_torch.txt");
    size_t cap = 64, n = 0;
    oracle_case *cases = calloc(cap, sizeof *cases);
    cr_assert_not_null(cases);
    oracle_case *c = NULL;
    char *line = NULL;
    size_t line_cap = 0;
    while (getline(&line, &line_cap, f) > 0) {
        if (line[0] == '#') continue;
        char tag[16];
        int used = 0;
        if (sscanf(line, "%15s %n", tag, &used) != 1) continue;
        const char *rest = line + used;
        if (strcmp(tag, "case") == 0) {
            if (n == cap) {
                cases = realloc(cases, 2 * cap * sizeof *cases);
                cr_assert_not_null(cases);
                memset(cases + cap, 0, cap * sizeof *cases);
                cap *= 2;
            }
            c = &cases[n++];
            c->rtol = 4e-6;
            c->atol = 1e-30;
            char *save = NULL, *copy = strdup(rest);
            char *tok = strtok_r(copy, " \n", &save);
            snprintf(c->name, sizeof c->name, "%s", tok ? tok : "?");
            tok = strtok_r(NULL, " \n", &save);
            snprintf(c->op, sizeof c->op, "%s", tok ? tok : "?");
            while ((tok = strtok_r(NULL, " \n", &save))) {
                cr_assert_lt(c->nparams, MAX_PARAMS, "%s: too many params", c->name);
                snprintf(c->params[c->nparams++], sizeof c->params[0], "%s", tok);
            }
            free(copy);
            continue;
        }
        cr_assert_not_null(c, "fixture line outside a case: %s", line);
        if (strcmp(tag, "tol") == 0) {
            cr_assert_eq(sscanf(rest, "%lf %lf", &c->rtol, &c->atol), 2, "%s: tol", c->name);
        } else if (strcmp(tag, "in") == 0) {
            cr_assert_lt(c->ninputs, MAX_INPUTS, "%s: too many inputs", c->name);
            parse_tensor(rest, &c->in[c->ninputs++], c->name);
        } else if (strcmp(tag, "r") == 0) {
            parse_tensor(rest, &c->r, c->name);
        } else if (strcmp(tag, "out") == 0) {
            parse_tensor(rest, &c->out, c->name);
        } else if (strcmp(tag, "outmag") == 0) {
            parse_values(strchr(rest, ':') + 1, &c->outmag, c->name);
        } else if (strcmp(tag, "grad") == 0) {
            int i = parse_index(rest, &rest);
            parse_values(rest, &c->grad[i], c->name);
        } else if (strcmp(tag, "gradmag") == 0) {
            int i = parse_index(rest, &rest);
            parse_values(rest, &c->gradmag[i], c->name);
        } else if (strcmp(tag, "end") != 0) {
            cr_assert_fail("%s: unknown fixture line '%s'", c->name, tag);
        }
    }
    free(line);
    fclose(f);
    cr_assert_gt(n, 0, "no cases in ops_torch.txt");
    *count = n;
    return cases;
}

static void free_cases(oracle_case *cases, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        oracle_case *c = &cases[k];
        for (int i = 0; i < c->ninputs; i++) {
            free(c->in[i].values.v);
            free(c->grad[i].v);
            free(c->gradmag[i].v);
        }
        free(c->r.values.v);
        free(c->out.values.v);
        free(c->outmag.v);
    }
    free(cases);
}

static cg_shape shape_of(const fixture_tensor *t)
{
    cg_shape s = {t->ndim ? t->ndim : 1, {1}};
    for (int i = 0; i < t->ndim; i++) s.dims[i] = t->dims[i];
    return s;
}

/* ---- calling the op ----------------------------------------------------------- */

static double param(const oracle_case *c, int i)
{
    cr_assert_lt(i, c->nparams, "%s: parameter %d missing", c->name, i);
    return strtod(c->params[i], NULL);
}

static cg_reduction reduction(const char *name)
{
    if (strcmp(name, "mean") == 0) return CG_REDUCTION_MEAN;
    if (strcmp(name, "sum") == 0) return CG_REDUCTION_SUM;
    cr_assert_str_eq(name, "none", "unknown reduction");
    return CG_REDUCTION_NONE;
}

static const struct {
    const char *name;
    cg_tensor *(*fn)(cg_tensor *);
} unary_ops[] = {
    {"neg", cg_neg},   {"square", cg_square}, {"sqrt", cg_sqrt}, {"exp", cg_exp},
    {"log", cg_log},   {"abs", cg_abs},       {"relu", cg_relu}, {"tanh", cg_tanh},
    {"sigmoid", cg_sigmoid}, {"sum", cg_sum}, {"mean", cg_mean},
};

static const struct {
    const char *name;
    cg_tensor *(*fn)(cg_tensor *, float);
} scalar_ops[] = {
    {"add_scalar", cg_add_scalar}, {"sub_scalar", cg_sub_scalar},
    {"rsub_scalar", cg_rsub_scalar}, {"mul_scalar", cg_mul_scalar},
    {"div_scalar", cg_div_scalar}, {"rdiv_scalar", cg_rdiv_scalar},
    {"pow_scalar", cg_pow_scalar},
};

static const struct {
    const char *name;
    cg_tensor *(*fn)(cg_tensor *, cg_tensor *);
} binary_ops[] = {{"add", cg_add}, {"sub", cg_sub}, {"mul", cg_mul}, {"div", cg_div}};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static bool shapes_equal(cg_shape a, cg_shape b)
{
    if (a.ndim != b.ndim) return false;
    for (int i = 0; i < a.ndim; i++)
        if (a.dims[i] != b.dims[i]) return false;
    return true;
}

/* The op of case c on inputs x (leaves, requires_grad). */
static cg_tensor *call_op(const oracle_case *c, cg_tensor **x)
{
    const char *op = c->op;
    for (size_t i = 0; i < COUNT(unary_ops); i++)
        if (strcmp(op, unary_ops[i].name) == 0) return unary_ops[i].fn(x[0]);
    for (size_t i = 0; i < COUNT(scalar_ops); i++)
        if (strcmp(op, scalar_ops[i].name) == 0) return scalar_ops[i].fn(x[0], (float)param(c, 0));
    for (size_t i = 0; i < COUNT(binary_ops); i++)
        if (strcmp(op, binary_ops[i].name) == 0) return binary_ops[i].fn(x[0], x[1]);
    if (strcmp(op, "sum_axis") == 0) return cg_sum_axis(x[0], (int)param(c, 0), param(c, 1) != 0);
    if (strcmp(op, "mean_axis") == 0)
        return cg_mean_axis(x[0], (int)param(c, 0), param(c, 1) != 0);
    if (strcmp(op, "matmul") == 0) return cg_matmul(x[0], x[1], param(c, 0) != 0, param(c, 1) != 0);
    if (strcmp(op, "reshape") == 0) {
        cg_shape s = {(int)param(c, 0), {0}};
        for (int i = 0; i < s.ndim; i++) s.dims[i] = (size_t)param(c, 1 + i);
        return cg_reshape(x[0], s);
    }
    if (strcmp(op, "at") == 0) return cg_at(x[0], (size_t)param(c, 0));
    if (strcmp(op, "slice") == 0) return cg_slice(x[0], (size_t)param(c, 0), (size_t)param(c, 1));
    if (strcmp(op, "concat") == 0) return cg_concat(x, (size_t)c->ninputs, (int)param(c, 0));
    if (strcmp(op, "embedding") == 0) {
        size_t count = (size_t)param(c, 0);
        unsigned idx[MAX_PARAMS];
        cr_assert_lt(count, MAX_PARAMS);
        for (size_t i = 0; i < count; i++) idx[i] = (unsigned)param(c, 1 + (int)i);
        return cg_embedding(x[0], idx, count);
    }
    if (strcmp(op, "mse") == 0 || strcmp(op, "l1") == 0 || strcmp(op, "huber") == 0) {
        /* PyTorch broadcasts a loss's operands (with a warning); clgrad
         * refuses, so the fixture's broadcast cases broadcast explicitly
         * first (+ 0 * the other operand: same values, same gradients). */
        cg_tensor *p = x[0], *y = x[1];
        if (!shapes_equal(cg_tensor_shape(p), cg_tensor_shape(y))) {
            p = cg_add(x[0], cg_mul_scalar(x[1], 0.0f));
            y = cg_add(x[1], cg_mul_scalar(x[0], 0.0f));
        }
        if (strcmp(op, "mse") == 0) return cg_mse_loss(p, y, reduction(c->params[0]));
        if (strcmp(op, "l1") == 0) return cg_l1_loss(p, y, reduction(c->params[0]));
        return cg_huber_loss(p, y, (float)param(c, 0), reduction(c->params[1]));
    }
    if (strcmp(op, "linear") == 0) {
        cg_linear layer = {x[1], x[2], cg_tensor_shape(x[1]).dims[1], cg_tensor_shape(x[1]).dims[0]};
        return cg_linear_forward(&layer, x[0]);
    }
    cr_assert_fail("%s: unknown op '%s' (regenerated fixture, old test?)", c->name, op);
    return NULL;
}

static cg_activation activation(const char *name)
{
    if (strcmp(name, "tanh") == 0) return CG_ACT_TANH;
    if (strcmp(name, "relu") == 0) return CG_ACT_RELU;
    cr_assert_str_eq(name, "sigmoid", "unknown activation");
    return CG_ACT_SIGMOID;
}

/* ---- comparing -------------------------------------------------------------------- */

static bool close_enough(float got, float want, double mag, const oracle_case *c)
{
    if (isnan(want)) return isnan(got);
    if (isinf(want)) return got == want;
    if (!isfinite(got)) return false;
    if (!isfinite(mag)) mag = 0; /* a sum with an infinite term: nothing to add */
    return fabs((double)got - (double)want) <= c->rtol * (fabs((double)want) + mag) + c->atol;
}

/* Compares got with want; prints up to MAX_REPORTED mismatches (naming the
 * case, the tensor and the element) when `report`; returns how many. */
static size_t compare(const oracle_case *c, const char *what, const float *got, const vec *want,
                      const vec *mag, bool report)
{
    size_t bad = 0;
    for (size_t i = 0; i < want->n; i++) {
        double m = mag->v ? mag->v[i] : 0.0;
        if (close_enough(got[i], want->v[i], m, c)) continue;
        if (report && bad < MAX_REPORTED)
            fprintf(stderr, "  %s: %s[%zu] = %.9g, PyTorch %.9g (|diff| %.3g, allowed %.3g)\n",
                    c->name, what, i, (double)got[i], (double)want->v[i],
                    fabs((double)got[i] - (double)want->v[i]),
                    c->rtol * (fabs((double)want->v[i]) + (isfinite(m) ? m : 0)) + c->atol);
        bad++;
    }
    if (report && bad > MAX_REPORTED)
        fprintf(stderr, "  %s: %s: %zu more\n", c->name, what, bad - MAX_REPORTED);
    return bad;
}

/* Runs case c on ctx; returns the number of mismatching values (an error
 * from the library counts as one). */
static size_t run_case(cg_context *ctx, const oracle_case *c, bool report)
{
    size_t bad = 0;
    cg_tensor *x[MAX_INPUTS] = {0}, *checked[MAX_INPUTS] = {0};
    cg_mlp *mlp = NULL;
    int nchecked = c->ninputs;
    if (strcmp(c->op, "mlp") == 0) {
        /* params: activation, nsizes, sizes...; inputs: x, then weight and
         * bias per layer, which are written into the MLP's own tensors. */
        size_t sizes[8], ns = (size_t)param(c, 1);
        cr_assert_leq(ns, 8);
        for (size_t i = 0; i < ns; i++) sizes[i] = (size_t)param(c, 2 + (int)i);
        mlp = cg_mlp_create(ctx, sizes, ns, activation(c->params[0]), 1);
        cr_assert_not_null(mlp, "%s: %s", c->name, cg_error_message(ctx));
        cg_tensor *ps[MAX_INPUTS];
        size_t np = cg_mlp_parameters(mlp, ps, MAX_INPUTS - 1);
        cr_assert_eq((int)np + 1, c->ninputs, "%s: parameter count", c->name);
        checked[0] = x[0] = cg_tensor_from(ctx, c->in[0].values.v, shape_of(&c->in[0]));
        cg_set_requires_grad(x[0], true);
        for (size_t i = 0; i < np; i++) {
            checked[i + 1] = ps[i];
            cr_assert_eq(cg_tensor_write(ps[i], c->in[i + 1].values.v, c->in[i + 1].values.n),
                         CG_OK, "%s: %s", c->name, cg_error_message(ctx));
        }
    } else {
        for (int i = 0; i < c->ninputs; i++) {
            checked[i] = x[i] = cg_tensor_from(ctx, c->in[i].values.v, shape_of(&c->in[i]));
            cg_set_requires_grad(x[i], true);
        }
    }
    cr_assert_eq(cg_status_of(ctx), CG_OK, "%s: inputs: %s", c->name, cg_error_message(ctx));
    cg_tensor *out = mlp ? cg_mlp_forward(mlp, x[0]) : call_op(c, x);
    cg_tensor *seed = NULL;
    float *buf = NULL;
    if (!out || cg_status_of(ctx)) {
        if (report) fprintf(stderr, "  %s: the op failed: %s\n", c->name, cg_error_message(ctx));
        bad++;
        goto done;
    }
    cg_shape want = shape_of(&c->out), got = cg_tensor_shape(out);
    bool same = want.ndim == got.ndim;
    for (int i = 0; same && i < want.ndim; i++) same = want.dims[i] == got.dims[i];
    if (!same) {
        if (report)
            fprintf(stderr, "  %s: output shape has %d dims [%zu,...], PyTorch %d [%zu,...]\n",
                    c->name, got.ndim, got.dims[0], want.ndim, want.dims[0]);
        bad++;
        goto done;
    }
    size_t most = c->out.values.n;
    for (int i = 0; i < c->ninputs; i++)
        if (c->in[i].values.n > most) most = c->in[i].values.n;
    buf = malloc(most * sizeof *buf);
    cr_assert_not_null(buf);
    cr_assert_eq(cg_tensor_read(out, buf, c->out.values.n), CG_OK, "%s", cg_error_message(ctx));
    bad += compare(c, "out", buf, &c->out.values, &c->outmag, report);
    seed = cg_tensor_from(ctx, c->r.values.v, got);
    if (cg_backward_ex(out, seed, false) != CG_OK) {
        if (report) fprintf(stderr, "  %s: backward failed: %s\n", c->name, cg_error_message(ctx));
        bad++;
        goto done;
    }
    for (int i = 0; i < nchecked; i++) {
        if (!c->grad[i].v) continue;
        char what[16];
        snprintf(what, sizeof what, "grad%d", i);
        cg_tensor *g = cg_grad(checked[i]);
        if (!g) {
            if (report) fprintf(stderr, "  %s: input %d got no gradient\n", c->name, i);
            bad++;
            continue;
        }
        cr_assert_eq(cg_tensor_read(g, buf, c->grad[i].n), CG_OK, "%s", cg_error_message(ctx));
        bad += compare(c, what, buf, &c->grad[i], &c->gradmag[i], report);
    }
done:
    cg_clear_error(ctx);
    cg_tape_reset(ctx);
    cg_tensor_free(seed);
    for (int i = 0; i < c->ninputs; i++) cg_tensor_free(x[i]);
    cg_mlp_free(mlp);
    free(buf);
    return bad;
}

/* Every case whose name starts with prefix; fails listing the cases that
 * differ from PyTorch (and the known differences that no longer do). */
static void check_family(const char *prefix)
{
    size_t n;
    oracle_case *cases = read_cases(&n);
    cg_context *ctx = test_context();
    bool is_ref = cg_context_is_ref(ctx);
    size_t ran = 0, failed = 0, stale = 0;
    char failures[1024] = "";
    for (size_t k = 0; k < n; k++) {
        const oracle_case *c = &cases[k];
        if (strncmp(c->name, prefix, strlen(prefix)) != 0) continue;
        ran++;
        const known_difference *kd = known_for(c->name, is_ref);
        size_t bad = run_case(ctx, c, !kd);
        if (kd && bad) {
            fprintf(stderr, "  %s: differs as known (%s)\n", c->name, kd->reason);
        } else if (kd) {
            fprintf(stderr, "  %s: now matches PyTorch: remove it from known[] in %s\n", c->name,
                    __FILE__);
            stale++;
        } else if (bad) {
            failed++;
            size_t len = strlen(failures);
            snprintf(failures + len, sizeof failures - len, "%s%s", len ? ", " : "", c->name);
        }
    }
    cg_context_free(ctx);
    free_cases(cases, n);
    cr_assert_gt(ran, 0, "no '%s' cases in the fixture", prefix);
    cr_expect_eq(failed, 0, "%zu of %zu '%s' cases differ from PyTorch (details above): %s",
                 failed, ran, prefix, failures);
    cr_expect_eq(stale, 0, "%zu known differences now match PyTorch (see above)", stale);
}

Test(oracle, unary) { check_family("unary/"); }
Test(oracle, scalar) { check_family("scalar/"); }
Test(oracle, binary) { check_family("binary/"); }
Test(oracle, reductions) { check_family("reduce/"); }
Test(oracle, matmul) { check_family("matmul/"); }
Test(oracle, shape_ops) { check_family("shape/"); }
Test(oracle, embedding) { check_family("embedding/"); }
Test(oracle, losses) { check_family("loss/"); }
Test(oracle, layers) { check_family("layer/"); }
