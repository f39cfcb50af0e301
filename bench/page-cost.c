/* What touching memory costs on this machine (bench/page-cost.mjs compiles and runs it).
 *
 *   page-cost anon <MiB>        fresh anonymous 4 KiB pages, one write each: the page fault
 *   page-cost populated <MiB>   the same pages populated first (madvise(MADV_POPULATE_WRITE),
 *                               Linux 5.14), then one read each, then one write each
 *   page-cost huge <MiB>        the same on 2 MiB pages (madvise(MADV_HUGEPAGE)), second round
 *   page-cost file <path>       a cached file mapped read-only, one read per 4 KiB page, twice
 *
 * Prints one JSON line: the case, pages, and per phase its wall time (ms) and µs per 4 KiB page.
 * Every mapping is unmapped before exit; nothing is written to any file. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define PAGE ((size_t)4096)

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static volatile unsigned char sink;

static void touch_read(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i += PAGE) sink += p[i];
}

static void touch_write(unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i += PAGE) p[i] = 1;
}

static unsigned char *anon(size_t n, int advice) {
  unsigned char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    perror("mmap");
    exit(1);
  }
  if (madvise(p, n, advice) != 0) perror("madvise");
  return p;
}

static void phase(const char *name, double ms, size_t pages, int last) {
  printf("\"%s\":{\"ms\":%.2f,\"usPerPage\":%.3f}%s", name, ms, ms * 1000 / (double)pages, last ? "" : ",");
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: page-cost anon|populated|huge <MiB> | file <path>\n");
    return 2;
  }
  const char *what = argv[1];
  if (strcmp(what, "file") == 0) {
    int fd = open(argv[2], O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
      perror(argv[2]);
      return 1;
    }
    size_t n = (size_t)st.st_size & ~(PAGE - 1);
    unsigned char *p = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      perror("mmap");
      return 1;
    }
    close(fd);
    double t0 = now_ms();
    touch_read(p, n);
    double t1 = now_ms();
    touch_read(p, n);
    double t2 = now_ms();
    printf("{\"case\":\"file\",\"pages\":%zu,", n / PAGE);
    phase("firstRead", t1 - t0, n / PAGE, 0);
    phase("secondRead", t2 - t1, n / PAGE, 1);
    printf("}\n");
    munmap(p, n);
    return 0;
  }
  size_t n = (size_t)strtoul(argv[2], NULL, 10) << 20;
  size_t pages = n / PAGE;
  if (strcmp(what, "anon") == 0) {
    unsigned char *p = anon(n, MADV_NOHUGEPAGE);
    double t0 = now_ms();
    touch_write(p, n);
    double t1 = now_ms();
    printf("{\"case\":\"anon\",\"pages\":%zu,", pages);
    phase("faultingWrite", t1 - t0, pages, 1);
    printf("}\n");
    munmap(p, n);
  } else if (strcmp(what, "populated") == 0) {
    unsigned char *p = anon(n, MADV_NOHUGEPAGE);
    double t0 = now_ms();
    if (madvise(p, n, MADV_POPULATE_WRITE) != 0) perror("MADV_POPULATE_WRITE");
    double t1 = now_ms();
    touch_read(p, n);
    double t2 = now_ms();
    touch_write(p, n);
    double t3 = now_ms();
    printf("{\"case\":\"populated\",\"pages\":%zu,", pages);
    phase("populate", t1 - t0, pages, 0);
    phase("firstRead", t2 - t1, pages, 0);
    phase("thenWrite", t3 - t2, pages, 1);
    printf("}\n");
    munmap(p, n);
  } else if (strcmp(what, "huge") == 0) {
    /* 2 MiB-aligned, so that every 2 MiB of it can be one huge page. */
    size_t align = (size_t)2 << 20;
    double ms[2];
    for (int round = 0; round < 2; round++) {
      unsigned char *r = mmap(NULL, n + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (r == MAP_FAILED) {
        perror("mmap");
        return 1;
      }
      unsigned char *p = (unsigned char *)(((size_t)r + align - 1) & ~(align - 1));
      if (madvise(p, n, MADV_HUGEPAGE) != 0) perror("madvise");
      double t0 = now_ms();
      touch_write(p, n);
      ms[round] = now_ms() - t0;
      munmap(r, n + align);
    }
    printf("{\"case\":\"huge\",\"pages\":%zu,", pages);
    phase("firstRound", ms[0], pages, 0);
    phase("secondRound", ms[1], pages, 1);
    printf("}\n");
  } else {
    fprintf(stderr, "unknown case %s\n", what);
    return 2;
  }
  return 0;
}
