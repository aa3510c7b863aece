/* clgrad.h is C11 code's header, but nothing in it needs more than C99: this
 * file, built with -std=c99 -Wpedantic -Werror, keeps it so. */
#include "clgrad.h"

cg_shape cg_test_header_c99_shape(void);
cg_shape cg_test_header_c99_shape(void) { return CG_SHAPE(3, 2); }
