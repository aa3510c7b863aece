/* Fault injection and live-object accounting (private; tests link the static
 * library). Every OpenCL call that can fail for a reason outside the caller's
 * control (allocation, enqueue, transfer, build, kernel/queue/context
 * creation) and every host allocation of the library passes cg__fault_hit
 * first. A test arms the Nth such call to fail and walks N over a run, so
 * each error path is taken once. Disarmed, a hit costs one relaxed atomic
 * increment. */
#ifndef CG_FAULT_H
#define CG_FAULT_H

#include <stdbool.h>
#include <stddef.h>

#define CG__STR2(x) #x
#define CG__STR(x) CG__STR2(x)
/* "src/host/tensor.c:123": a call site, constant and unique per call. */
#define CG__SITE __FILE__ ":" CG__STR(__LINE__)

/* Counts one fallible call; true when it is the armed one (it must fail). */
bool cg__fault_hit(const char *site, const char *call);

/* Calls counted since the last reset. */
unsigned long long cg__fault_count(void);
/* Zeroes the count and disarms. */
void cg__fault_reset(void);
/* Call number `nth` (1-based, counted from the last reset) fails; 0 disarms.
 * CLGRAD_FAULT_AT=N in the environment arms call N of the process, so a
 * whole command can be made to fail (its exit status tested). */
void cg__fault_arm(unsigned long long nth);
/* Whether the armed call was reached (and failed) since arming. */
bool cg__fault_fired(void);
/* Each counted call is reported to fn (index 1-based) while set; NULL stops. */
typedef void (*cg__fault_trace_fn)(void *user, unsigned long long index, const char *site,
                                   const char *call);
void cg__fault_trace(cg__fault_trace_fn fn, void *user);

/* Host allocations that go through the injection point. */
void *cg__fault_malloc(size_t bytes, const char *site);
void *cg__fault_calloc(size_t n, size_t size, const char *site);
void *cg__fault_realloc(void *p, size_t bytes, const char *site);
char *cg__fault_strdup(const char *s, const char *site);
#define cg__malloc(bytes) cg__fault_malloc((bytes), CG__SITE)
#define cg__calloc(n, size) cg__fault_calloc((n), (size), CG__SITE)
#define cg__realloc(p, bytes) cg__fault_realloc((p), (bytes), CG__SITE)
#define cg__strdup(s) cg__fault_strdup((s), CG__SITE)

/* OpenCL objects alive in this process (created or retained, not yet
 * released), by kind: LeakSanitizer cannot see driver objects. */
typedef struct cg__cl_live {
    long contexts, queues, programs, kernels, buffers;
} cg__cl_live;
cg__cl_live cg__cl_live_objects(void);
long cg__cl_live_total(void);
/* (The gate's counters; cg__cl_live_objects reads them.) */
void cg__cl_live_add(int kind, long delta);
enum { CG__LIVE_CONTEXT, CG__LIVE_QUEUE, CG__LIVE_PROGRAM, CG__LIVE_KERNEL, CG__LIVE_BUFFER };

#endif /* CG_FAULT_H */
