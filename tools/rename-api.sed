# Renames of the public API before 1.0 (issue 8, "Header fixes"), as sed -E
# rules with word boundaries. Idempotent: no new name is an old one, so the
# script can run again over a tree that already has some new names (after
# merging a branch written against the old ones). Apply it from the
# repository root to the files that still hold an old name:
#
#   git grep -lIE 'cg_status\(|cg_context_get_stats|cg_requires_grad_of' -- \
#       src include tests examples bench tools docs README.md \
#       ':!tools/rename-api.sed' | xargs -r sed -E -i -f tools/rename-api.sed
#
# The naming rule these renames follow is at the top of include/clgrad.h and
# in docs/contributing.md.

# cg_status(ctx) was a macro for cg_status_of(ctx) that shadowed the type:
# `typedef cg_status (*fn)(void);` did not compile. Its definition goes and
# its calls name the function (a call has no space before the parenthesis;
# the type followed by one is left alone).
/^#define cg_status\(ctx\) cg_status_of\(ctx\)$/d
s/\bcg_status\(/cg_status_of(/g

# get_ is used nowhere else: a query is named for what it gives. The bare
# name cg_context_stats is the type, hence _of.
s/\bcg_context_get_stats\b/cg_context_stats_of/g

# _of only where the bare name is taken: cg_requires_grad is free.
# (cg_zero_grad_of stays: cg_zero_grad is the optimizer's.)
s/\bcg_requires_grad_of\b/cg_requires_grad/g
