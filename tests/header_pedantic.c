/* clgrad.h is C11 code's header, but nothing in it needs more than C99: the
 * build compiles this file as C99 and as C11 with -Wpedantic -Werror. */
#include "clgrad.h"

cg_shape cg_test_header_shape(void);
cg_shape cg_test_header_shape(void) { return CG_SHAPE(3, 2); }
