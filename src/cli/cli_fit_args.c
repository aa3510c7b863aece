/* clgrad fit's flags: every value checked and every integer range-checked
 * (cli_parse_uint), every combination that needs no data refused here, so
 * that a long run never ends on a flag it cannot use. No fixed-size buffer
 * holds a user's string. */
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli_fit_args.h"

static const char fit_usage[] =
    "usage: clgrad fit [options]\n"
    "\n"
    "Fits y = X.w + b by gradient descent on an OpenCL device (or 'ref').\n"
    "\n"
    "data:\n"
    "  --data FILE.csv       CSV with a header row (default: the lecture's t_u,t_c)\n"
    "  --x COL[,COL...]      feature columns (default: every column but --y's)\n"
    "  --y COL               target column (default: the last)\n"
    "  --normalize KIND      none | scale:F | standard | minmax (default standard); a\n"
    "                        feature without spread keeps scale 1, with a notice\n"
    "model and loss:\n"
    "  --model linear|mlp:H1[,H2...]  a line, or an MLP with up to 16 hidden layers of\n"
    "                        1 to 1048576 units (trained through the autograd tape;\n"
    "                        default linear). A line of more than 64 features trains\n"
    "                        through the tape too, with a notice\n"
    "  --activation tanh|relu|sigmoid  the MLP's activation (default tanh)\n"
    "  --seed N              the MLP's initial weights and the shuffling (default 0)\n"
    "  --loss mse|l1         mean squared or mean absolute error (default mse)\n"
    "  --grad analytic|numeric|autograd  the fused chain rule, central differences,\n"
    "                        or the autograd tape (default analytic)\n"
    "  --delta F             step of the central differences (default 0.1)\n"
    "training:\n"
    "  --epochs N            epochs, 1 to 2147483647 (default 5000)\n"
    "  --batch-size N        minibatches of N rows per step (tape path; default all)\n"
    "  --shuffle             a new random order of the rows each epoch (seeded)\n"
    "  --init W[,W...],B     initial weights then bias (default 1 for each weight, 0)\n"
    "run and output:\n"
    "  --device SPEC         P:D, a device-name substring, or ref (default CLGRAD_DEVICE,\n"
    "                        else the first GPU, else the first OpenCL device)\n"
    "  --log-every N         log every N epochs, 0 for none (default 500)\n"
    "  --print-params        log the parameters with each logged epoch\n"
    "  --print-grad          log the gradient with each logged epoch\n"
    "  --plot FILE           the data and the fitted line (.png or .svg)\n"
    "  --loss-plot FILE      the loss curve, log scale (.png or .svg)\n"
    "  --json                one JSON object on stdout, nothing else there\n"
    "  --stats               kernel launches (per step), programs, memory, fused groups\n"
    "  --no-capture          build every step's graph (autograd: the default captures the\n"
    "                        second step and replays it, the same results bit for bit)\n"
    "  -h, --help            this text\n"
    "\n"
    "\n%s"
    "\n" CLI_EXIT_HELP;

void cli_fit_usage(FILE *out) { fprintf(out, fit_usage, cli_optim_usage); }

static int bad(const fit_args *a, const char *fmt, ...) CLI_PRINTF(2, 3);
static int bad(const fit_args *a, const char *fmt, ...)
{
    if (!a->err) return CLI_USAGE;
    va_list ap;
    va_start(ap, fmt);
    fprintf(a->err, "clgrad fit: ");
    vfprintf(a->err, fmt, ap);
    fprintf(a->err, "\n(see clgrad fit --help)\n");
    va_end(ap);
    return CLI_USAGE;
}

enum {
    OPT_DATA = 256, OPT_X, OPT_Y, OPT_MODEL, OPT_LOSS, OPT_GRAD, OPT_DELTA, OPT_OPTIMIZER,
    OPT_LR, OPT_EPOCHS, OPT_INIT, OPT_NORMALIZE, OPT_DEVICE, OPT_LOG_EVERY, OPT_PRINT_PARAMS,
    OPT_PRINT_GRAD, OPT_PLOT, OPT_LOSS_PLOT, OPT_JSON, OPT_ACTIVATION, OPT_SEED,
    OPT_BATCH_SIZE, OPT_SHUFFLE, OPT_STATS, OPT_NO_CAPTURE
};

static const struct option long_options[] = {
    {"data", required_argument, 0, OPT_DATA},
    {"x", required_argument, 0, OPT_X},
    {"y", required_argument, 0, OPT_Y},
    {"model", required_argument, 0, OPT_MODEL},
    {"loss", required_argument, 0, OPT_LOSS},
    {"grad", required_argument, 0, OPT_GRAD},
    {"delta", required_argument, 0, OPT_DELTA},
    {"optimizer", required_argument, 0, OPT_OPTIMIZER},
    {"lr", required_argument, 0, OPT_LR},
    {"epochs", required_argument, 0, OPT_EPOCHS},
    {"init", required_argument, 0, OPT_INIT},
    {"normalize", required_argument, 0, OPT_NORMALIZE},
    {"device", required_argument, 0, OPT_DEVICE},
    {"log-every", required_argument, 0, OPT_LOG_EVERY},
    {"print-params", no_argument, 0, OPT_PRINT_PARAMS},
    {"print-grad", no_argument, 0, OPT_PRINT_GRAD},
    {"plot", required_argument, 0, OPT_PLOT},
    {"loss-plot", required_argument, 0, OPT_LOSS_PLOT},
    {"json", no_argument, 0, OPT_JSON},
    {"activation", required_argument, 0, OPT_ACTIVATION},
    {"seed", required_argument, 0, OPT_SEED},
    {"batch-size", required_argument, 0, OPT_BATCH_SIZE},
    {"shuffle", no_argument, 0, OPT_SHUFFLE},
    {"stats", no_argument, 0, OPT_STATS},
    {"no-capture", no_argument, 0, OPT_NO_CAPTURE},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0},
};

/* fit's own flags, then the optimizer's (cli_optim.c). */
static const struct option *all_options(void)
{
    static struct option all[sizeof long_options / sizeof long_options[0] + 32];
    if (all[0].name) return all;
    size_t n = 0;
    for (const struct option *o = long_options; o->name; o++) all[n++] = *o;
    for (const struct option *o = cli_optim_options; o->name; o++) {
        all[n] = *o;
        /* flags of no value: nesterov, amsgrad, maximize, centered */
        bool flag = !strcmp(o->name, "nesterov") || !strcmp(o->name, "amsgrad") ||
                    !strcmp(o->name, "maximize") || !strcmp(o->name, "centered");
        all[n++].has_arg = flag ? no_argument : required_argument;
    }
    all[n] = (struct option){0, 0, 0, 0};
    return all;
}

static bool plot_name_ok(const char *path)
{
    size_t n = strlen(path);
    return n > 4 && (strcasecmp(path + n - 4, ".png") == 0 || strcasecmp(path + n - 4, ".svg") == 0);
}

/* mlp:H1[,H2...] */
static int parse_model(fit_args *a, const char *v)
{
    if (strcmp(v, "linear") == 0) {
        a->mlp = false;
        return -1;
    }
    if (strncmp(v, "mlp:", 4) != 0)
        return bad(a, "unknown --model '%s' (expected linear or mlp:H1[,H2...])", v);
    a->mlp = true;
    a->nhidden = 0;
    const char *p = v + 4;
    if (!*p) return bad(a, "--model mlp: needs hidden sizes, as mlp:16,16");
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        unsigned long long h;
        if (a->nhidden == CLI_MAX_HIDDEN)
            return bad(a, "--model mlp:H1[,H2...] takes at most %d hidden layers (got '%s')",
                       CLI_MAX_HIDDEN, v);
        if (!cli_parse_uint(p, len, 1, CLI_MAX_HIDDEN_SIZE, &h))
            return bad(a, "--model mlp:H1[,H2...] takes up to %d sizes, each an integer from 1 "
                          "to %u (got '%.*s' in '%s')",
                       CLI_MAX_HIDDEN, CLI_MAX_HIDDEN_SIZE, (int)len, p, v);
        a->hidden[a->nhidden++] = (size_t)h;
        if (!comma) return -1;
        p = comma + 1;
    }
}

/* --x COL[,COL...]: split into a->x, no name empty or given twice. */
static int parse_x(fit_args *a, const char *v)
{
    free(a->x);
    free(a->x_names);
    a->x = NULL;
    a->nx = 0;
    a->x_names = strdup(v);
    size_t n = 1;
    for (const char *p = v; *p; p++) n += *p == ',';
    a->x = malloc(n * sizeof *a->x);
    if (!a->x_names || !a->x) return bad(a, "out of memory");
    for (char *p = a->x_names;;) {
        char *comma = strchr(p, ',');
        if (comma) *comma = '\0';
        if (!*p) return bad(a, "--x '%s' has an empty column name", v);
        for (size_t k = 0; k < a->nx; k++)
            if (strcmp(a->x[k], p) == 0) return bad(a, "--x names '%s' twice", p);
        a->x[a->nx++] = p;
        if (!comma) return -1;
        p = comma + 1;
    }
}

static int parse_normalize(fit_args *a, const char *s)
{
    a->norm_factor = 1.0f;
    if (strcmp(s, "none") == 0)
        a->norm_kind = CG_NORM_NONE;
    else if (strcmp(s, "standard") == 0)
        a->norm_kind = CG_NORM_STANDARD;
    else if (strcmp(s, "minmax") == 0)
        a->norm_kind = CG_NORM_MINMAX;
    else if (strncmp(s, "scale:", 6) == 0) {
        a->norm_kind = CG_NORM_SCALE;
        if (!cli_parse_float(s + 6, &a->norm_factor) || a->norm_factor == 0.0f)
            return bad(a, "--normalize scale:F needs a nonzero number F (got '%s')", s);
    } else
        return bad(a, "unknown --normalize '%s' (expected none, scale:F, standard or minmax)",
                   s);
    a->normalize = s;
    return -1;
}

/* One flag of fit's own; -1 to go on, else the exit status. */
static int parse_flag(fit_args *a, int c, const char *v)
{
    static const char prog[] = "clgrad fit";
    unsigned long long u;
    float f;
    switch (c) {
    case OPT_DATA: a->data = v; return -1;
    case OPT_X: return parse_x(a, v);
    case OPT_Y: a->y = v; return -1;
    case OPT_MODEL: return parse_model(a, v);
    case OPT_ACTIVATION:
        if (strcmp(v, "tanh") == 0)
            a->activation = CG_ACT_TANH;
        else if (strcmp(v, "relu") == 0)
            a->activation = CG_ACT_RELU;
        else if (strcmp(v, "sigmoid") == 0)
            a->activation = CG_ACT_SIGMOID;
        else
            return bad(a, "unknown --activation '%s' (expected tanh, relu or sigmoid)", v);
        a->activation_given = true;
        return -1;
    case OPT_SEED:
        if (!cli_uint_flag(a->err, prog, "--seed", v, 0, UINT64_MAX, &u)) return CLI_USAGE;
        a->seed = u;
        a->seed_given = true;
        return -1;
    case OPT_BATCH_SIZE:
        if (!cli_uint_flag(a->err, prog, "--batch-size", v, 1, SIZE_MAX, &u)) return CLI_USAGE;
        a->batch = (size_t)u;
        return -1;
    case OPT_SHUFFLE: a->shuffle = true; return -1;
    case OPT_STATS: a->stats = true; return -1;
    case OPT_NO_CAPTURE: a->no_capture = true; return -1;
    case OPT_LOSS:
        if (strcmp(v, "mse") == 0)
            a->opt.loss = CG_LOSS_MSE;
        else if (strcmp(v, "l1") == 0)
            a->opt.loss = CG_LOSS_L1;
        else
            return bad(a, "unknown --loss '%s' (expected mse or l1)", v);
        return -1;
    case OPT_GRAD:
        a->autograd = false;
        if (strcmp(v, "analytic") == 0)
            a->opt.grad = CG_GRAD_ANALYTIC;
        else if (strcmp(v, "numeric") == 0)
            a->opt.grad = CG_GRAD_NUMERIC;
        else if (strcmp(v, "autograd") == 0)
            a->autograd = true;
        else
            return bad(a, "unknown --grad '%s' (expected analytic, numeric or autograd)", v);
        return -1;
    case OPT_DELTA:
        if (!cli_parse_float(v, &f) || !(f > 0.0f))
            return bad(a, "--delta must be a positive number (got '%s')", v);
        a->opt.delta = f;
        return -1;
    case OPT_OPTIMIZER: return cli_optim_kind(v, &a->optim);
    case OPT_LR:
        if (!cli_parse_float(v, &f) || !(f > 0.0f))
            return bad(a, "--lr must be a positive number (got '%s')", v);
        a->opt.lr = f;
        a->lr_given = true;
        return -1;
    case OPT_EPOCHS:
        /* cg_linreg_fit counts epochs in an int. */
        if (!cli_uint_flag(a->err, prog, "--epochs", v, 1, INT_MAX, &u)) return CLI_USAGE;
        a->opt.epochs = (long)u;
        return -1;
    case OPT_INIT:
        free(a->init);
        a->init = cli_parse_floats(v, ',', &a->ninit);
        if (!a->init || a->ninit < 2)
            return bad(a, "--init takes W[,W...],B as finite numbers (got '%s')", v);
        return -1;
    case OPT_NORMALIZE: return parse_normalize(a, v);
    case OPT_DEVICE: a->device = v; return -1;
    case OPT_LOG_EVERY:
        if (!cli_uint_flag(a->err, prog, "--log-every", v, 0, LONG_MAX, &u)) return CLI_USAGE;
        a->opt.log_every = (long)u;
        return -1;
    case OPT_PRINT_PARAMS: a->log.params = true; return -1;
    case OPT_PRINT_GRAD: a->log.grad = true; return -1;
    case OPT_PLOT: a->plot = v; return -1;
    case OPT_LOSS_PLOT: a->loss_plot = v; return -1;
    case OPT_JSON: a->json = true; return -1;
    default:
        if (c < CLI_OPTIM_CODE) return bad(a, "internal: unhandled option %d", c);
        return cli_optim_flag(c, v, &a->optim);
    }
}

/* Combinations, checked once every flag is known. */
static int check_combinations(fit_args *a)
{
    /* Checked now, so a long run never ends on a file name it cannot use. */
    const char *plots[2] = {a->plot, a->loss_plot};
    for (int i = 0; i < 2; i++)
        if (plots[i] && !plot_name_ok(plots[i]))
            return bad(a, "%s: the plot's file name must end in .png or .svg", plots[i]);
    int r = cli_optim_finish(&a->optim, a->lr_given, a->opt.lr, &a->optim_opts);
    if (r >= 0) return r;
    a->opt.optimizer = (cg_optim_kind)a->optim.kind;
    a->opt.lr = a->optim_opts.lr;
    a->opt.optim = &a->optim_opts;
    if (a->mlp && a->opt.grad == CG_GRAD_NUMERIC)
        return bad(a, "--grad numeric belongs to the linear model's fused path; an MLP trains "
                      "through autograd");
    if (a->mlp && a->init)
        return bad(a, "--init sets the linear model's parameters; an MLP starts from --seed");
    if (a->mlp && a->plot)
        return bad(a, "--plot draws the fitted line of the linear model; use --loss-plot with "
                      "an MLP");
    if (!a->mlp && a->activation_given)
        return bad(a, "--activation belongs to --model mlp:...");
    if (a->shuffle && !a->batch)
        return bad(a, "--shuffle reorders minibatches: give --batch-size too");
    if (a->batch && a->opt.optimizer == CG_OPTIM_LBFGS)
        return bad(a, "--optimizer lbfgs takes full batches: drop --batch-size");
    if (a->batch && a->opt.grad == CG_GRAD_NUMERIC)
        return bad(a, "--batch-size trains through autograd; --grad numeric is full batch");
    return -1;
}

int cli_fit_parse(int argc, char **argv, fit_args *a, FILE *err)
{
    memset(a, 0, sizeof *a);
    a->err = err;
    a->optim.err = err;
    a->opt = cg_fit_defaults();
    a->activation = CG_ACT_TANH;
    a->norm_kind = CG_NORM_STANDARD;
    a->norm_factor = 1.0f;
    a->normalize = "standard";
    a->log.out = stdout;
    const struct option *options = all_options();
    /* 0, not 1: glibc then forgets a half-read "-zq" from an earlier parse.
     * '+': no reordering, so argv[at] below is the argument being read. */
    optind = 0;
    opterr = 0;
    for (;;) {
        int at = optind ? optind : 1;
        int c = getopt_long(argc, argv, "+:h", options, NULL);
        if (c == -1) break;
        int r;
        if (c == 'h') {
            a->help = true;
            return CLI_OK;
        } else if (c == ':') {
            r = bad(a, "%s needs a value", argv[at]);
        } else if (c == '?' && optopt >= OPT_DATA) {
            /* glibc: a known long option given a value it does not take */
            r = bad(a, "'%s' takes no value", argv[at]);
        } else if (c == '?') {
            r = bad(a, "unknown option '%s'", argv[at]);
        } else {
            r = parse_flag(a, c, optarg);
        }
        if (r >= 0) return r;
    }
    if (optind < argc) return bad(a, "unexpected argument '%s'", argv[optind]);
    return check_combinations(a);
}

void cli_fit_args_free(fit_args *a)
{
    free(a->x);
    free(a->x_names);
    free(a->init);
    cli_optim_free(&a->optim);
    a->x = NULL;
    a->x_names = NULL;
    a->init = NULL;
}
