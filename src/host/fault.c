/* Fault injection (see fault.h; the OpenCL objects' live counts are the
 * backend's, backend/cl_live.c). Process-wide: contexts may live on several
 * threads, so the counters are atomic; a test arms faults from a
 * single-threaded run. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"

static atomic_ullong calls;
static atomic_ullong armed;          /* 0: none */
static atomic_bool fired;
static atomic_bool env_read;
static cg__fault_trace_fn trace_fn;
static void *trace_user;

static void read_env_once(void)
{
    /* A plain load first: the exchange is a locked instruction, and this
     * runs for every allocation. */
    if (atomic_load_explicit(&env_read, memory_order_relaxed)) return;
    if (atomic_exchange_explicit(&env_read, true, memory_order_relaxed)) return;
    const char *env = getenv("CLGRAD_FAULT_AT");
    if (env && *env) {
        char *end;
        unsigned long long n = strtoull(env, &end, 10);
        if (*end == '\0') atomic_store(&armed, n);
    }
}

bool cg__fault_hit(const char *site, const char *call)
{
    read_env_once();
    unsigned long long index =
        atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed) + 1;
    if (trace_fn) trace_fn(trace_user, index, site, call);
    if (index != atomic_load_explicit(&armed, memory_order_relaxed)) return false;
    atomic_store(&fired, true);
    return true;
}

unsigned long long cg__fault_count(void) { return atomic_load(&calls); }

void cg__fault_reset(void)
{
    atomic_store(&env_read, true); /* an explicit reset overrides the environment */
    atomic_store(&calls, 0);
    atomic_store(&armed, 0);
    atomic_store(&fired, false);
}

void cg__fault_arm(unsigned long long nth)
{
    atomic_store(&env_read, true);
    atomic_store(&armed, nth);
    atomic_store(&fired, false);
}

bool cg__fault_fired(void) { return atomic_load(&fired); }

void cg__fault_trace(cg__fault_trace_fn fn, void *user)
{
    trace_fn = fn;
    trace_user = user;
}

void *cg__fault_malloc(size_t bytes, const char *site)
{
    return cg__fault_hit(site, "malloc") ? NULL : malloc(bytes);
}

void *cg__fault_calloc(size_t n, size_t size, const char *site)
{
    return cg__fault_hit(site, "calloc") ? NULL : calloc(n, size);
}

void *cg__fault_realloc(void *p, size_t bytes, const char *site)
{
    return cg__fault_hit(site, "realloc") ? NULL : realloc(p, bytes);
}

char *cg__fault_strdup(const char *s, const char *site)
{
    if (cg__fault_hit(site, "strdup")) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}
