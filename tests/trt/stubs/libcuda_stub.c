/* A stand-in libcuda.so.1 for checking edgematte's pycuda code on a machine without a GPU.
 *
 * EDGEMATTE_STUB_CUDA unset or "nodevice": cuInit returns CUDA_ERROR_NO_DEVICE (100), as on a
 * machine with the driver's library but no GPU. "device": one fake device ("Stub GPU", sm_87)
 * whose "device memory" is host memory, so copies work; no kernel ever runs.
 * cuMemFreeHost poisons the block with 0xAB instead of freeing it, so a read after free is seen.
 * stub_primary_retains() reports the primary-context retain count; stub_copies(kind) the memory copies made so far
 * (kind 0: host to device, 1: device to host, 2: device to device), stub_memsets() the memsets.
 * Every other cu* symbol pycuda links is generated beside this file and returns CUDA_SUCCESS.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef int CUdevice;
typedef void *CUcontext;
typedef void *CUstream;
typedef unsigned long long CUdeviceptr;

static int device_mode(void) {
    const char *mode = getenv("EDGEMATTE_STUB_CUDA");
    return mode && strcmp(mode, "device") == 0;
}

static int retains = 0;
static int context_token = 0;
static __thread void *stack[64];
static __thread int depth = 0;

static long copies[3] = {0, 0, 0}, memsets = 0;

int stub_primary_retains(void) { return retains; }
long stub_copies(int kind) { return kind >= 0 && kind < 3 ? copies[kind] : -1; }
long stub_memsets(void) { return memsets; }
CUresult cuInit(unsigned flags) { (void)flags; return device_mode() ? 0 : 100; }
CUresult cuDriverGetVersion(int *v) { *v = 13000; return 0; }
CUresult cuGetErrorString(CUresult e, const char **s) {
    *s = e == 100 ? "no CUDA-capable device is detected" : "stub error";
    return 0;
}
CUresult cuDeviceGetCount(int *count) { *count = device_mode() ? 1 : 0; return 0; }
CUresult cuDeviceGet(CUdevice *d, int ordinal) { if (ordinal != 0) return 101; *d = 0; return 0; }
CUresult cuDeviceGetName(char *buf, int n, CUdevice d) { (void)d; strncpy(buf, "Stub GPU", n); return 0; }
CUresult cuDeviceComputeCapability(int *major, int *minor, CUdevice d) { (void)d; *major = 8; *minor = 7; return 0; }
CUresult cuDeviceGetAttribute(int *v, int attr, CUdevice d) { (void)d; *v = attr == 75 ? 8 : attr == 76 ? 7 : 0; return 0; }
CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice d) { (void)d; *bytes = (size_t)1 << 30; return 0; }
CUresult cuDevicePrimaryCtxRetain(CUcontext *c, CUdevice d) { (void)d; *c = &context_token; retains++; return 0; }
CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d) { (void)d; retains--; return 0; }
CUresult cuCtxPushCurrent_v2(CUcontext c) { if (depth == 64) return 1; stack[depth++] = c; return 0; }
CUresult cuCtxPopCurrent_v2(CUcontext *c) { if (!depth) return 201; depth--; if (c) *c = stack[depth]; return 0; }
CUresult cuCtxGetCurrent(CUcontext *c) { *c = depth ? stack[depth - 1] : 0; return 0; }
CUresult cuCtxGetDevice(CUdevice *d) { *d = 0; return 0; }
CUresult cuCtxSynchronize(void) { return 0; }
CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t n) { void *m = malloc(n ? n : 1); *p = (uintptr_t)m; return m ? 0 : 2; }
CUresult cuMemFree_v2(CUdeviceptr p) { free((void *)(uintptr_t)p); return 0; }
CUresult cuMemHostAlloc(void **p, size_t n, unsigned flags) { (void)flags; *p = malloc(n ? n : 1); return *p ? 0 : 2; }
CUresult cuMemFreeHost(void *p) { memset(p, 0xAB, malloc_usable_size(p)); return 0; }
CUresult cuStreamCreate(CUstream *s, unsigned flags) { (void)flags; *s = malloc(8); return 0; }
CUresult cuStreamDestroy_v2(CUstream s) { free(s); return 0; }
CUresult cuStreamSynchronize(CUstream s) { (void)s; return 0; }
CUresult cuMemcpyHtoD_v2(CUdeviceptr d, const void *s, size_t n) { copies[0]++; memcpy((void *)(uintptr_t)d, s, n); return 0; }
CUresult cuMemcpyDtoH_v2(void *d, CUdeviceptr s, size_t n) { copies[1]++; memcpy(d, (void *)(uintptr_t)s, n); return 0; }
CUresult cuMemcpyDtoD_v2(CUdeviceptr d, CUdeviceptr s, size_t n) { copies[2]++; memcpy((void *)(uintptr_t)d, (void *)(uintptr_t)s, n); return 0; }
CUresult cuMemsetD8_v2(CUdeviceptr d, unsigned char v, size_t n) { memsets++; memset((void *)(uintptr_t)d, v, n); return 0; }
CUresult cuMemsetD8Async(CUdeviceptr d, unsigned char v, size_t n, CUstream st) { (void)st; return cuMemsetD8_v2(d, v, n); }
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr d, const void *s, size_t n, CUstream st) { (void)st; return cuMemcpyHtoD_v2(d, s, n); }
CUresult cuMemcpyDtoHAsync_v2(void *d, CUdeviceptr s, size_t n, CUstream st) { (void)st; return cuMemcpyDtoH_v2(d, s, n); }
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr d, CUdeviceptr s, size_t n, CUstream st) { (void)st; return cuMemcpyDtoD_v2(d, s, n); }
