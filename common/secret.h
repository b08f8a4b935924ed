/* secret: reading the files that hold secrets (the key file, the hash key,
 * the events API's token, by the beacon and by sync) and giving up root.
 * A secret file must not be open to other users; it is checked on the open
 * descriptor, so it cannot be swapped after the check. */
#ifndef MB_SECRET_H
#define MB_SECRET_H
#include <stddef.h>
#include "mbuf.h"

/* Reads path (at most max octets) into out. Errors, in err: "PATH: cannot
 * open: ...", "PATH: readable by other users (mode 0644); chmod 600 or 640
 * it", "PATH: cannot read: ...", "PATH: NUL byte in file". The caller wipes
 * out (sodium_memzero) when done. */
int secret_file_read(const char *path, size_t max, struct mbuf *out, char *err, size_t errlen);
/* When running as root: becomes user (its groups too), and checks that root
 * cannot be regained. A no-op for any other user, or when user is root. */
int privs_drop(const char *user, char *err, size_t errlen);

#endif
