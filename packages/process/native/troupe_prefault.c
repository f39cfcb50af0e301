/* troupe_prefault: an LD_PRELOAD object for process actors (Node children started by the process
 * backend, @troupe/actor backend/process/prefault.ts). It wraps mmap(2) and mprotect(2): when an
 * anonymous private mapping of 64 KiB to 4 MiB is mapped, or such a range is made writable, it
 * asks the kernel to fault the whole range in at once (madvise(MADV_POPULATE_WRITE), Linux 5.14),
 * instead of one page fault per 4 KiB page as the code first writes it.
 *
 * Why: a Node process started from a V8 startup snapshot writes its whole deserialized heap into
 * fresh pages (V8 commits its 256 KiB pages with mprotect or mmap). Where a page fault is dear
 * (under a hypervisor: ~11 us each on the machines troupe is measured on), those faults were a
 * third of an actor's boot. For `--troupe-snapshot-check` of the demo's hasher (exec to exit,
 * medians of 20, interleaved): ~5,000 → ~2,700 page faults and 114 → 101 ms of CPU with this
 * object; RSS unchanged (53 MB): the pages populated are the pages the heap writes anyway. A
 * limit of 8 MiB did no better, 16 MiB worse.
 *
 * Nothing else changes: the wrapped calls return what the real ones return (errno kept), a
 * populate that fails (an older kernel: EINVAL; out of memory: the pages then fault as before)
 * is ignored, and file mappings, stacks (MAP_STACK), PROT_NONE reservations and mappings above
 * 4 MiB (thread stacks are 8 MiB) are left alone. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
/* node-gyp builds with -D_FILE_OFFSET_BITS=64, which renames mmap to mmap64 in <sys/mman.h>:
 * both names are defined below (glibc exports both; 64-bit off_t either way on x86-64/arm64). */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/types.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define MIN_BYTES ((size_t)64 << 10)
#define MAX_BYTES ((size_t)4 << 20)

static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static int (*real_mprotect)(void *, size_t, int);

static void populate(void *addr, size_t len) {
  int saved = errno;
  (void)madvise(addr, len, MADV_POPULATE_WRITE);
  errno = saved;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  if (real_mmap == NULL) real_mmap = (void *(*)(void *, size_t, int, int, int, off_t))dlsym(RTLD_NEXT, "mmap");
  if (real_mmap == NULL) {
    errno = ENOSYS;
    return MAP_FAILED;
  }
  void *p = real_mmap(addr, len, prot, flags, fd, off);
  if (p != MAP_FAILED && (flags & MAP_ANONYMOUS) && !(flags & (MAP_STACK | MAP_SHARED)) && (prot & PROT_WRITE) &&
      len >= MIN_BYTES && len <= MAX_BYTES)
    populate(p, len);
  return p;
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  return mmap(addr, len, prot, flags, fd, off);
}

int mprotect(void *addr, size_t len, int prot) {
  if (real_mprotect == NULL) real_mprotect = (int (*)(void *, size_t, int))dlsym(RTLD_NEXT, "mprotect");
  if (real_mprotect == NULL) {
    errno = ENOSYS;
    return -1;
  }
  int r = real_mprotect(addr, len, prot);
  if (r == 0 && (prot & PROT_WRITE) && len >= MIN_BYTES && len <= MAX_BYTES) populate(addr, len);
  return r;
}
