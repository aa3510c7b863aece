/* The gate (cl_gate.h): every OpenCL call of the library, with fault
 * injection in front of the fallible ones and live-object counts behind the
 * constructors and releases. */
#include "cl_gate.h"

/* Fails the call when it is the armed one: sets *err (when given) and
 * returns from the wrapper with `fail`. */
#define GATE(call, code, fail)                                                \
    do {                                                                      \
        if (cg__fault_hit(site, call)) {                                      \
            if (err) *err = (code);                                           \
            return fail;                                                      \
        }                                                                     \
    } while (0)

/* For wrappers that return the status instead of taking err. */
#define GATE_STATUS(call, code)                                               \
    do {                                                                      \
        if (cg__fault_hit(site, call)) return (code);                         \
    } while (0)

static void *counted(void *object, int kind)
{
    if (object) cg__cl_live_add(kind, 1);
    return object;
}

static cl_int released(cl_int status, int kind)
{
    if (status == CL_SUCCESS) cg__cl_live_add(kind, -1);
    return status;
}

cl_context cg__gate_clCreateContext(const char *site, const cl_context_properties *props,
                                    cl_uint ndev, const cl_device_id *devs, cl_int *err)
{
    GATE("clCreateContext", CL_OUT_OF_HOST_MEMORY, NULL);
    return counted(clCreateContext(props, ndev, devs, NULL, NULL, err), CG__LIVE_CONTEXT);
}

cl_command_queue cg__gate_clCreateCommandQueue(const char *site, cl_context c, cl_device_id d,
                                               cl_command_queue_properties props, cl_int *err)
{
    GATE("clCreateCommandQueue", CL_OUT_OF_RESOURCES, NULL);
    /* OpenCL 1.2's constructor (deprecated in 2.0, still in every ICD). */
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
    return counted(clCreateCommandQueue(c, d, props, err), CG__LIVE_QUEUE);
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
}

cl_mem cg__gate_clCreateBuffer(const char *site, cl_context c, cl_mem_flags flags, size_t bytes,
                               void *host, cl_int *err)
{
    GATE("clCreateBuffer", CL_MEM_OBJECT_ALLOCATION_FAILURE, NULL);
    return counted(clCreateBuffer(c, flags, bytes, host, err), CG__LIVE_BUFFER);
}

cl_mem cg__gate_clCreateSubBuffer(const char *site, cl_mem parent, cl_mem_flags flags,
                                  cl_buffer_create_type type, const void *info, cl_int *err)
{
    GATE("clCreateSubBuffer", CL_OUT_OF_RESOURCES, NULL);
    return counted(clCreateSubBuffer(parent, flags, type, info, err), CG__LIVE_BUFFER);
}

cl_program cg__gate_clCreateProgramWithSource(const char *site, cl_context c, cl_uint n,
                                              const char **srcs, const size_t *lens, cl_int *err)
{
    GATE("clCreateProgramWithSource", CL_OUT_OF_HOST_MEMORY, NULL);
    return counted(clCreateProgramWithSource(c, n, srcs, lens, err), CG__LIVE_PROGRAM);
}

cl_program cg__gate_clCreateProgramWithBinary(const char *site, cl_context c, cl_uint ndev,
                                              const cl_device_id *devs, const size_t *lens,
                                              const unsigned char **bins, cl_int *bin_status,
                                              cl_int *err)
{
    GATE("clCreateProgramWithBinary", CL_OUT_OF_HOST_MEMORY, NULL);
    return counted(clCreateProgramWithBinary(c, ndev, devs, lens, bins, bin_status, err),
                   CG__LIVE_PROGRAM);
}

cl_int cg__gate_clBuildProgram(const char *site, cl_program p, cl_uint ndev,
                               const cl_device_id *devs, const char *options,
                               void(CL_CALLBACK *notify)(cl_program, void *), void *user)
{
    GATE_STATUS("clBuildProgram", CL_OUT_OF_RESOURCES);
    return clBuildProgram(p, ndev, devs, options, notify, user);
}

cl_kernel cg__gate_clCreateKernel(const char *site, cl_program p, const char *name, cl_int *err)
{
    GATE("clCreateKernel", CL_OUT_OF_RESOURCES, NULL);
    return counted(clCreateKernel(p, name, err), CG__LIVE_KERNEL);
}

cl_int cg__gate_clEnqueueNDRangeKernel(const char *site, cl_command_queue q, cl_kernel k,
                                       cl_uint dims, const size_t *offset, const size_t *global,
                                       const size_t *local, cl_uint nwait, const cl_event *wait,
                                       cl_event *event)
{
    GATE_STATUS("clEnqueueNDRangeKernel", CL_OUT_OF_RESOURCES);
    return clEnqueueNDRangeKernel(q, k, dims, offset, global, local, nwait, wait, event);
}

cl_int cg__gate_clEnqueueFillBuffer(const char *site, cl_command_queue q, cl_mem m,
                                    const void *pattern, size_t pattern_bytes, size_t offset,
                                    size_t bytes, cl_uint nwait, const cl_event *wait,
                                    cl_event *event)
{
    GATE_STATUS("clEnqueueFillBuffer", CL_OUT_OF_RESOURCES);
    return clEnqueueFillBuffer(q, m, pattern, pattern_bytes, offset, bytes, nwait, wait, event);
}

cl_int cg__gate_clEnqueueCopyBuffer(const char *site, cl_command_queue q, cl_mem src, cl_mem dst,
                                    size_t src_offset, size_t dst_offset, size_t bytes,
                                    cl_uint nwait, const cl_event *wait, cl_event *event)
{
    GATE_STATUS("clEnqueueCopyBuffer", CL_OUT_OF_RESOURCES);
    return clEnqueueCopyBuffer(q, src, dst, src_offset, dst_offset, bytes, nwait, wait, event);
}

cl_int cg__gate_clEnqueueReadBuffer(const char *site, cl_command_queue q, cl_mem m,
                                    cl_bool blocking, size_t offset, size_t bytes, void *dst,
                                    cl_uint nwait, const cl_event *wait, cl_event *event)
{
    GATE_STATUS("clEnqueueReadBuffer", CL_OUT_OF_RESOURCES);
    return clEnqueueReadBuffer(q, m, blocking, offset, bytes, dst, nwait, wait, event);
}

cl_int cg__gate_clEnqueueWriteBuffer(const char *site, cl_command_queue q, cl_mem m,
                                     cl_bool blocking, size_t offset, size_t bytes,
                                     const void *src, cl_uint nwait, const cl_event *wait,
                                     cl_event *event)
{
    GATE_STATUS("clEnqueueWriteBuffer", CL_OUT_OF_RESOURCES);
    return clEnqueueWriteBuffer(q, m, blocking, offset, bytes, src, nwait, wait, event);
}

cl_int cg__gate_clFinish(const char *site, cl_command_queue q)
{
    GATE_STATUS("clFinish", CL_OUT_OF_RESOURCES);
    return clFinish(q);
}

cl_int cg__gate_clGetKernelWorkGroupInfo(const char *site, cl_kernel k, cl_device_id d,
                                         cl_kernel_work_group_info what, size_t cap, void *out,
                                         size_t *size)
{
    GATE_STATUS("clGetKernelWorkGroupInfo", CL_OUT_OF_HOST_MEMORY);
    return clGetKernelWorkGroupInfo(k, d, what, cap, out, size);
}

cl_int cg__clGetPlatformIDs(cl_uint cap, cl_platform_id *out, cl_uint *n)
{
    return clGetPlatformIDs(cap, out, n);
}

cl_int cg__clGetPlatformInfo(cl_platform_id p, cl_platform_info what, size_t cap, void *out,
                             size_t *size)
{
    return clGetPlatformInfo(p, what, cap, out, size);
}

cl_int cg__clGetDeviceIDs(cl_platform_id p, cl_device_type type, cl_uint cap, cl_device_id *out,
                          cl_uint *n)
{
    return clGetDeviceIDs(p, type, cap, out, n);
}

cl_int cg__clGetDeviceInfo(cl_device_id d, cl_device_info what, size_t cap, void *out,
                           size_t *size)
{
    return clGetDeviceInfo(d, what, cap, out, size);
}

cl_int cg__clGetProgramInfo(cl_program p, cl_program_info what, size_t cap, void *out,
                            size_t *size)
{
    return clGetProgramInfo(p, what, cap, out, size);
}

cl_int cg__clGetProgramBuildInfo(cl_program p, cl_device_id d, cl_program_build_info what,
                                 size_t cap, void *out, size_t *size)
{
    return clGetProgramBuildInfo(p, d, what, cap, out, size);
}

cl_int cg__clSetKernelArg(cl_kernel k, cl_uint index, size_t size, const void *value)
{
    return clSetKernelArg(k, index, size, value);
}

void cg__cl_drain(cl_command_queue q)
{
    if (q) clFinish(q);
}

cl_int cg__clRetainMemObject(cl_mem m)
{
    cl_int status = clRetainMemObject(m);
    if (status == CL_SUCCESS) cg__cl_live_add(CG__LIVE_BUFFER, 1);
    return status;
}

cl_int cg__clReleaseMemObject(cl_mem m) { return released(clReleaseMemObject(m), CG__LIVE_BUFFER); }
cl_int cg__clReleaseKernel(cl_kernel k) { return released(clReleaseKernel(k), CG__LIVE_KERNEL); }
cl_int cg__clReleaseProgram(cl_program p) { return released(clReleaseProgram(p), CG__LIVE_PROGRAM); }

cl_int cg__clReleaseCommandQueue(cl_command_queue q)
{
    return released(clReleaseCommandQueue(q), CG__LIVE_QUEUE);
}

cl_int cg__clReleaseContext(cl_context c) { return released(clReleaseContext(c), CG__LIVE_CONTEXT); }
