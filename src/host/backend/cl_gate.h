/* The gate: the one place the library calls OpenCL (DESIGN.md, Layers; the
 * engine issue turns it into the OpenCL backend). Every call made elsewhere
 * is one of the cg__cl* macros below, which pass the call site along, so:
 *   - fault injection can make any fallible call fail (fault.h), and
 *   - live OpenCL objects are counted, so a test can assert none is left
 *     after cg_context_free (LeakSanitizer cannot see driver objects).
 * internal.h poisons the raw cl* names for the rest of the library. An
 * injected failure returns the error a real driver gives for that call when
 * resources run out (CL_MEM_OBJECT_ALLOCATION_FAILURE for buffers,
 * CL_OUT_OF_HOST_MEMORY for host-side objects, CL_OUT_OF_RESOURCES else). */
#ifndef CG_CL_GATE_H
#define CG_CL_GATE_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include "fault.h"

/* Fallible calls: counted by fault injection, site-tagged. */
cl_context cg__gate_clCreateContext(const char *site, const cl_context_properties *props,
                                    cl_uint ndev, const cl_device_id *devs, cl_int *err);
cl_command_queue cg__gate_clCreateCommandQueue(const char *site, cl_context c, cl_device_id d,
                                               cl_command_queue_properties props, cl_int *err);
cl_mem cg__gate_clCreateBuffer(const char *site, cl_context c, cl_mem_flags flags, size_t bytes,
                               void *host, cl_int *err);
cl_mem cg__gate_clCreateSubBuffer(const char *site, cl_mem parent, cl_mem_flags flags,
                                  cl_buffer_create_type type, const void *info, cl_int *err);
cl_program cg__gate_clCreateProgramWithSource(const char *site, cl_context c, cl_uint n,
                                              const char **srcs, const size_t *lens, cl_int *err);
cl_program cg__gate_clCreateProgramWithBinary(const char *site, cl_context c, cl_uint ndev,
                                              const cl_device_id *devs, const size_t *lens,
                                              const unsigned char **bins, cl_int *bin_status,
                                              cl_int *err);
cl_int cg__gate_clBuildProgram(const char *site, cl_program p, cl_uint ndev,
                               const cl_device_id *devs, const char *options,
                               void(CL_CALLBACK *notify)(cl_program, void *), void *user);
cl_kernel cg__gate_clCreateKernel(const char *site, cl_program p, const char *name, cl_int *err);
/* Enqueues keep OpenCL's signatures (wait lists and events included). */
cl_int cg__gate_clEnqueueNDRangeKernel(const char *site, cl_command_queue q, cl_kernel k,
                                       cl_uint dims, const size_t *offset, const size_t *global,
                                       const size_t *local, cl_uint nwait, const cl_event *wait,
                                       cl_event *event);
cl_int cg__gate_clEnqueueFillBuffer(const char *site, cl_command_queue q, cl_mem m,
                                    const void *pattern, size_t pattern_bytes, size_t offset,
                                    size_t bytes, cl_uint nwait, const cl_event *wait,
                                    cl_event *event);
cl_int cg__gate_clEnqueueCopyBuffer(const char *site, cl_command_queue q, cl_mem src, cl_mem dst,
                                    size_t src_offset, size_t dst_offset, size_t bytes,
                                    cl_uint nwait, const cl_event *wait, cl_event *event);
cl_int cg__gate_clEnqueueReadBuffer(const char *site, cl_command_queue q, cl_mem m,
                                    cl_bool blocking, size_t offset, size_t bytes, void *dst,
                                    cl_uint nwait, const cl_event *wait, cl_event *event);
cl_int cg__gate_clEnqueueWriteBuffer(const char *site, cl_command_queue q, cl_mem m,
                                     cl_bool blocking, size_t offset, size_t bytes,
                                     const void *src, cl_uint nwait, const cl_event *wait,
                                     cl_event *event);
cl_int cg__gate_clFinish(const char *site, cl_command_queue q);
/* A query, yet one that drivers answer from the kernel's compiled form (and
 * may fail for want of host memory): injected like the constructors, so the
 * launch helpers' use of it has a tested error path. */
cl_int cg__gate_clGetKernelWorkGroupInfo(const char *site, cl_kernel k, cl_device_id d,
                                         cl_kernel_work_group_info what, size_t cap, void *out,
                                         size_t *size);

#define cg__clCreateContext(...) cg__gate_clCreateContext(CG__SITE, __VA_ARGS__)
#define cg__clCreateCommandQueue(...) cg__gate_clCreateCommandQueue(CG__SITE, __VA_ARGS__)
#define cg__clCreateBuffer(...) cg__gate_clCreateBuffer(CG__SITE, __VA_ARGS__)
#define cg__clCreateSubBuffer(...) cg__gate_clCreateSubBuffer(CG__SITE, __VA_ARGS__)
#define cg__clCreateProgramWithSource(...) cg__gate_clCreateProgramWithSource(CG__SITE, __VA_ARGS__)
#define cg__clCreateProgramWithBinary(...) cg__gate_clCreateProgramWithBinary(CG__SITE, __VA_ARGS__)
#define cg__clBuildProgram(...) cg__gate_clBuildProgram(CG__SITE, __VA_ARGS__)
#define cg__clCreateKernel(...) cg__gate_clCreateKernel(CG__SITE, __VA_ARGS__)
#define cg__clEnqueueNDRangeKernel(...) cg__gate_clEnqueueNDRangeKernel(CG__SITE, __VA_ARGS__)
#define cg__clEnqueueFillBuffer(...) cg__gate_clEnqueueFillBuffer(CG__SITE, __VA_ARGS__)
#define cg__clEnqueueCopyBuffer(...) cg__gate_clEnqueueCopyBuffer(CG__SITE, __VA_ARGS__)
#define cg__clEnqueueReadBuffer(...) cg__gate_clEnqueueReadBuffer(CG__SITE, __VA_ARGS__)
#define cg__clEnqueueWriteBuffer(...) cg__gate_clEnqueueWriteBuffer(CG__SITE, __VA_ARGS__)
#define cg__clFinish(q) cg__gate_clFinish(CG__SITE, q)
#define cg__clGetKernelWorkGroupInfo(...) cg__gate_clGetKernelWorkGroupInfo(CG__SITE, __VA_ARGS__)

/* Calls that do not fail for want of resources (queries, argument setting,
 * retain/release): not injected; retain/release keep the live counts. */
cl_int cg__clGetPlatformIDs(cl_uint cap, cl_platform_id *out, cl_uint *n);
cl_int cg__clGetPlatformInfo(cl_platform_id p, cl_platform_info what, size_t cap, void *out,
                             size_t *size);
cl_int cg__clGetDeviceIDs(cl_platform_id p, cl_device_type type, cl_uint cap, cl_device_id *out,
                          cl_uint *n);
cl_int cg__clGetDeviceInfo(cl_device_id d, cl_device_info what, size_t cap, void *out,
                           size_t *size);
cl_int cg__clGetProgramInfo(cl_program p, cl_program_info what, size_t cap, void *out,
                            size_t *size);
cl_int cg__clGetProgramBuildInfo(cl_program p, cl_device_id d, cl_program_build_info what,
                                 size_t cap, void *out, size_t *size);
cl_int cg__clSetKernelArg(cl_kernel k, cl_uint index, size_t size, const void *value);
cl_int cg__clRetainMemObject(cl_mem m);
/* clFinish for error paths (not injected): after a failure, no command still
 * queued may write into host memory the failing caller is about to free. */
void cg__cl_drain(cl_command_queue q);
cl_int cg__clReleaseMemObject(cl_mem m);
cl_int cg__clReleaseKernel(cl_kernel k);
cl_int cg__clReleaseProgram(cl_program p);
cl_int cg__clReleaseCommandQueue(cl_command_queue q);
cl_int cg__clReleaseContext(cl_context c);

#endif /* CG_CL_GATE_H */
