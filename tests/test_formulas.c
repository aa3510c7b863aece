/* The gradient formulas' "reads" tables (formulas.clh): a fused kernel loads
 * only the inputs cg_unary_grad_reads / cg_binary_grad_reads name, and a
 * replay's liveness counts only those reads, so an input they leave out
 * must not change the gradient. Checked on the formulas themselves,
 * compiled here as C as the reference path compiles them. */
#include "helpers.h"

#include "../src/kernels/formulas.clh"

int cg__unary_grad_reads(int op);
int cg__binary_grad_reads(int op, int which);

static float other(test_rng *r) { return rng_range(r, 0.1, 3.0); }

static bool same(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

Test(formulas, unary_gradients_read_only_what_they_say)
{
    test_rng r = {test_seed() | 1};
    for (int op = 0; op <= CG_U_SUB_S; op++) {
        cr_assert_eq(cg__unary_grad_reads(op), cg_unary_grad_reads(op));
        int reads = cg_unary_grad_reads(op);
        for (int k = 0; k < 200; k++) {
            float x = other(&r), y = other(&r), gy = rng_range(&r, -2, 2), s = other(&r);
            float g = cg_unary_grad(op, x, y, gy, s);
            if (!(reads & 1))
                cr_assert(same(g, cg_unary_grad(op, other(&r), y, gy, s)), "op %d reads x", op);
            if (!(reads & 2))
                cr_assert(same(g, cg_unary_grad(op, x, other(&r), gy, s)), "op %d reads y", op);
        }
    }
    /* and the tables are not empty: square reads x, tanh y, rdiv both */
    cr_assert_eq(cg_unary_grad_reads(CG_U_SQUARE), 1);
    cr_assert_eq(cg_unary_grad_reads(CG_U_TANH), 2);
    cr_assert_eq(cg_unary_grad_reads(CG_U_RDIV_S), 3);
}

Test(formulas, binary_gradients_read_only_what_they_say)
{
    test_rng r = {test_seed() | 1};
    for (int op = CG_B_ADD; op <= CG_B_DIV; op++)
        for (int which = 0; which < 2; which++) {
            int reads = cg_binary_grad_reads(op, which);
            cr_assert_eq(cg__binary_grad_reads(op, which), reads);
            for (int k = 0; k < 200; k++) {
                float a = other(&r), b = other(&r), g = rng_range(&r, -2, 2);
                float d = cg_binary_grad_f(op, which, a, b, g);
                if (!(reads & 1))
                    cr_assert(same(d, cg_binary_grad_f(op, which, other(&r), b, g)),
                              "op %d which %d reads a", op, which);
                if (!(reads & 2))
                    cr_assert(same(d, cg_binary_grad_f(op, which, a, other(&r), g)),
                              "op %d which %d reads b", op, which);
            }
        }
    cr_assert_eq(cg_binary_grad_reads(CG_B_MUL, 0), 2);
    cr_assert_eq(cg_binary_grad_reads(CG_B_DIV, 1), 3);
}
