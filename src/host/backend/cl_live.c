/* OpenCL objects alive in this process, by kind (fault.h): the gate counts
 * its constructors and releases here, and a test asserts none is left after
 * cg_context_free, which LeakSanitizer cannot see. Atomic: contexts may live
 * on several threads. */
#include <stdatomic.h>

#include "../fault.h"

static atomic_long live[5];

void cg__cl_live_add(int kind, long delta)
{
    atomic_fetch_add_explicit(&live[kind], delta, memory_order_relaxed);
}

cg__cl_live cg__cl_live_objects(void)
{
    return (cg__cl_live){atomic_load(&live[CG__LIVE_CONTEXT]), atomic_load(&live[CG__LIVE_QUEUE]),
                         atomic_load(&live[CG__LIVE_PROGRAM]), atomic_load(&live[CG__LIVE_KERNEL]),
                         atomic_load(&live[CG__LIVE_BUFFER])};
}

long cg__cl_live_total(void)
{
    long total = 0;
    for (int i = 0; i < 5; i++) total += atomic_load(&live[i]);
    return total;
}
