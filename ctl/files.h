/*
 * files.c: a whole regular file of at most max bytes in memory,
 * NUL-terminated (caller frees).  0, -EINVAL (not a regular file), -EFBIG
 * (larger than max) or another negative errno.
 */
#ifndef KAKURICTL_FILES_H
#define KAKURICTL_FILES_H

#include <stddef.h>

int read_file(const char *path, size_t max, char **out, size_t *len);
int read_fd(int fd, size_t max, char **out, size_t *len);

#endif
