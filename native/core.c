/*
 * treefreeze's native core: the per-process loops of a large freeze, done in one call
 * instead of thousands of calls from JavaScript. Loaded through koffi when it is there
 * (src/kernel/native-core.ts); everything here has a TypeScript twin that runs otherwise.
 * Each function only reads /proc and sends signals through pidfds it is given: it decides
 * nothing the TypeScript side does not check again.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* Verdicts of tf_confirm, one per process. */
enum { TF_STOPPED = 0, TF_PENDING = 1, TF_GONE = 2, TF_LOOK_CLOSER = 3 };

/* A stat line is under 1 KiB: a 16-byte name in parentheses and ~50 numbers. */
#define STAT_MAX 1024

/* The version of this interface: the loader refuses a library that answers otherwise. */
int tf_core_version(void) { return 4; }

/* The state letter and the fields after the name, or -1 when the line cannot be parsed. */
struct stat_fields {
  char state;
  int32_t num_threads;
  double start_time;
};

static int parse_stat(char *line, ssize_t length, struct stat_fields *out) {
  if (length <= 0) return -1;
  line[length < STAT_MAX ? length : STAT_MAX - 1] = '\0';
  /* The name may contain ')' and spaces: the last ')' ends it. */
  char *close = strrchr(line, ')');
  if (close == NULL || close[1] != ' ' || close[2] == '\0') return -1;
  out->state = close[2];
  /* Fields 4 (ppid) to 22 (starttime); num_threads is field 20. */
  char *cursor = close + 3;
  for (int field = 4; field <= 22; field++) {
    while (*cursor == ' ') cursor++;
    if (*cursor == '\0') return -1;
    char *end;
    unsigned long long value = strtoull(cursor, &end, 10);
    if (end == cursor) {
      /* a negative number (tty_nr, priority, nice...): skip it */
      while (*end != ' ' && *end != '\0') end++;
    }
    if (field == 20) out->num_threads = (int32_t)value;
    if (field == 22) out->start_time = (double)value;
    cursor = end;
  }
  return 0;
}

/* Reads the stat of `pid` through `fd` (pread), or by path when fd < 0. -errno on failure. */
static ssize_t read_stat(int32_t pid, int32_t fd, char *buffer) {
  if (fd >= 0) {
    ssize_t length = pread(fd, buffer, STAT_MAX - 1, 0);
    return length < 0 ? -errno : length;
  }
  char path[48];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int opened = open(path, O_RDONLY | O_CLOEXEC);
  if (opened < 0) return -errno;
  ssize_t length = read(opened, buffer, STAT_MAX - 1);
  int saved = errno;
  close(opened);
  return length < 0 ? -saved : length;
}

static int is_gone_errno(ssize_t rc) { return rc == -ESRCH || rc == -ENOENT; }

/*
 * The states of every task but the main one: TF_STOPPED when every one is T, Z or X,
 * TF_PENDING when one still runs or sleeps, TF_LOOK_CLOSER for a t (traced) or D (a vfork
 * parent, or on its way) or anything unreadable, TF_GONE when no task is left.
 */
static int other_tasks(int32_t pid) {
  char path[64], line[STAT_MAX];
  snprintf(path, sizeof path, "/proc/%d/task", pid);
  DIR *tasks = opendir(path);
  if (tasks == NULL) return errno == ENOENT || errno == ESRCH ? TF_GONE : TF_LOOK_CLOSER;
  int verdict = TF_STOPPED;
  struct dirent *entry;
  while (verdict == TF_STOPPED && (entry = readdir(tasks)) != NULL) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    long tid = strtol(entry->d_name, NULL, 10);
    if (tid == pid) continue; /* the main thread: read from the process's own stat */
    char task_path[96];
    snprintf(task_path, sizeof task_path, "/proc/%d/task/%ld/stat", pid, tid);
    int fd = open(task_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue; /* the thread exited since the listing */
    ssize_t length = read(fd, line, STAT_MAX - 1);
    close(fd);
    struct stat_fields task;
    if (length <= 0) continue;
    if (parse_stat(line, length, &task) != 0) verdict = TF_LOOK_CLOSER;
    else if (task.state == 't' || task.state == 'D') verdict = TF_LOOK_CLOSER;
    else if (task.state != 'T' && task.state != 'Z' && task.state != 'X') verdict = TF_PENDING;
  }
  closedir(tasks);
  return verdict;
}

/*
 * One look at whether each process is stopped (every task in group stop). For process i:
 * its stat through stat_fds[i] (or by path when -1), gone unless it shows start_times[i].
 * Writes verdicts[i] and threads[i] (its thread count, 0 when unknown); returns n.
 * A main thread still running or sleeping is pending without reading the others, as in
 * the TypeScript twin (backends/signal/wait.ts: classify).
 */
int tf_confirm(int n, const int32_t *pids, const int32_t *stat_fds, const double *start_times,
               uint8_t *verdicts, int32_t *threads) {
  char line[STAT_MAX];
  for (int i = 0; i < n; i++) {
    threads[i] = 0;
    ssize_t length = read_stat(pids[i], stat_fds[i], line);
    if (length < 0) {
      verdicts[i] = is_gone_errno(length) ? TF_GONE : TF_LOOK_CLOSER;
      continue;
    }
    struct stat_fields stat;
    if (parse_stat(line, length, &stat) != 0) {
      verdicts[i] = length == 0 ? TF_GONE : TF_LOOK_CLOSER;
      continue;
    }
    if (stat.start_time != start_times[i]) {
      verdicts[i] = TF_GONE; /* the pid names another process now */
      continue;
    }
    threads[i] = stat.num_threads;
    char state = stat.state;
    if (state == 't' || state == 'D') verdicts[i] = TF_LOOK_CLOSER;
    else if (state != 'T' && state != 'Z' && state != 'X') verdicts[i] = TF_PENDING;
    else if (stat.num_threads <= 1) verdicts[i] = TF_STOPPED;
    else verdicts[i] = other_tasks(pids[i]);
  }
  return n;
}

/* pidfd_send_signal(pidfds[i], sig) for each i; results[i] is 0 or -errno. Returns n. */
int tf_signal_pidfds(int n, const int32_t *pidfds, int sig, int32_t *results) {
  for (int i = 0; i < n; i++) {
    long rc = syscall(SYS_pidfd_send_signal, pidfds[i], sig, NULL, 0);
    results[i] = rc < 0 ? -errno : 0;
  }
  return n;
}


/*
 * The size of one slot of the buffers below. A stat line is 250-350 bytes; one that fills
 * its slot is read again by the caller (the buffer is 512 bytes per process of the system).
 */
#define STAT_SLOT 512
int tf_stat_slot(void) { return STAT_SLOT; }

/* tf_read_stats flags */
#define TF_KEEP 1   /* keep each stat file open, its descriptor in fds[i] */
#define TF_PIDFD 2  /* open a pidfd for each pid first, in pidfds[i] (-errno when none) */

/*
 * Reads /proc/<pid>/stat for each pid into slot i of `buffer` (STAT_SLOT bytes each);
 * lengths[i] is the length read or -errno. With TF_KEEP each file stays open and fds[i] is
 * its descriptor (-1 when none), for the caller to read again and close; else all are
 * closed. With TF_PIDFD a pidfd is opened before the file is read: if that process is still
 * alive after the read (its pidfd not readable), the line read is that process's. Returns n.
 */
int tf_read_stats(int n, const int32_t *pids, int flags, uint8_t *buffer, int32_t *lengths, int32_t *fds,
                  int32_t *pidfds) {
  char path[48];
  for (int i = 0; i < n; i++) {
    fds[i] = -1;
    pidfds[i] = -1;
    if (flags & TF_PIDFD) {
      long pidfd = syscall(SYS_pidfd_open, pids[i], 0);
      pidfds[i] = pidfd < 0 ? -errno : (int32_t)pidfd;
      if (pidfd < 0 && errno == ESRCH) {
        lengths[i] = -ESRCH;
        continue;
      }
    }
    snprintf(path, sizeof path, "/proc/%d/stat", pids[i]);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      lengths[i] = -errno;
      continue;
    }
    ssize_t length = read(fd, buffer + (size_t)i * STAT_SLOT, STAT_SLOT);
    lengths[i] = length < 0 ? -errno : (int32_t)length;
    if ((flags & TF_KEEP) && length > 0) fds[i] = fd;
    else close(fd);
  }
  return n;
}

/* pread(fds[i]) into slot i of `buffer`; lengths[i] is the length read or -errno. Returns n. */
int tf_pread_stats(int n, const int32_t *fds, uint8_t *buffer, int32_t *lengths) {
  for (int i = 0; i < n; i++) {
    ssize_t length = pread(fds[i], buffer + (size_t)i * STAT_SLOT, STAT_SLOT, 0);
    lengths[i] = length < 0 ? -errno : (int32_t)length;
  }
  return n;
}

/* pidfd_open(pids[i], 0) for each i (close-on-exec, as every pidfd is); out[i] is the fd or -errno. */
int tf_pidfd_open_many(int n, const int32_t *pids, int32_t *out) {
  for (int i = 0; i < n; i++) {
    long fd = syscall(SYS_pidfd_open, pids[i], 0);
    out[i] = fd < 0 ? -errno : (int32_t)fd;
  }
  return n;
}

/* kill(pids[i], sig) for each i (sig 0: may we signal it?); results[i] is 0 or -errno. Returns n. */
int tf_kill_many(int n, const int32_t *pids, int sig, int32_t *results) {
  for (int i = 0; i < n; i++) results[i] = kill(pids[i], sig) == 0 ? 0 : -errno;
  return n;
}
