/* What clgrad fit prints after training: the text summary or the JSON
 * object of the fit contract (cli_report.c). */
#ifndef CG_CLI_REPORT_H
#define CG_CLI_REPORT_H

#include "cli_common.h"

/* What a run reports, whichever path trained it. */
typedef struct report {
    const cg_context *ctx;
    const cg_fit_result *r; /* the tape path fills one too */
    const char *path;       /* how it ran */
    const float *raw;       /* linear: params in raw input units */
    size_t F;
    bool mlp, print_params, stats;
    const char *model;
    size_t parameter_count;
    cg_optim_kind optimizer;
} report;

/* Both print on stdout; false when a write already failed (stdout's error
 * flag). What is still buffered is checked by main's cli_finish_stdout. */
bool cli_print_json(const report *rep);
bool cli_print_summary(const report *rep, const char *const *xnames, const char *yname,
                       cg_norm_kind norm);

/* What explains a divergence, whichever path trained. */
typedef struct divergence {
    const cg_fit_result *r;
    bool mlp, init_given;
    float lr;
    cg_norm_kind norm;
    const char *normalize, *yname;
    double max_y, max_x; /* |y| and |x'| (x as trained on) */
    double max_pred;     /* linear: |w.x' + b| at the initial parameters */
} divergence;

/* "clgrad fit: training diverged ..." on stderr, with a hint that fits the
 * cause, when a loss became inf or NaN; false for a divergence of another
 * kind (the fused path's vanished numeric gradient), which the library's
 * message explains. */
bool cli_print_divergence(const divergence *d);

#endif
