/* pidfile: the -p FILE of both daemons, this process's id and a newline. */
#ifndef MB_PIDFILE_H
#define MB_PIDFILE_H

/* 0, or -1 with errno set. */
int pidfile_write(const char *path);

#endif
