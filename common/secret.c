/* secret: the one place where secret files are opened and checked, and
 * where the daemons give up root. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include "secret.h"

int
secret_file_read(const char *path, size_t max, struct mbuf *out, char *err, size_t errlen)
{
	struct stat sb;
	int fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1) {
		saved = errno;
		close(fd);
		snprintf(err, errlen, "%s: cannot stat: %s", path, strerror(saved));
		return -1;
	}
	if (sb.st_mode & 0006) {
		close(fd);
		snprintf(err, errlen, "%s: readable by other users (mode %04o); chmod 600 or 640 it",
			 path, (unsigned)(sb.st_mode & 07777));
		return -1;
	}
	if (mbuf_read_fd(out, fd, max) == -1) {
		saved = errno;
		close(fd);
		if (out->data != NULL)
			sodium_memzero(out->data, out->cap);
		mbuf_free(out);
		snprintf(err, errlen, "%s: cannot read: %s", path,
			 saved == EFBIG ? "file too large" : strerror(saved));
		return -1;
	}
	close(fd);
	if (out->data != NULL && memchr(out->data, '\0', out->len) != NULL) {
		sodium_memzero(out->data, out->cap);
		mbuf_free(out);
		snprintf(err, errlen, "%s: NUL byte in file", path);
		return -1;
	}
	return 0;
}

int
privs_drop(const char *user, char *err, size_t errlen)
{
	struct passwd *pw;

	if (geteuid() != 0)
		return 0;
	if ((pw = getpwnam(user)) == NULL) {
		snprintf(err, errlen, "user '%s' (setting user) does not exist", user);
		return -1;
	}
	if (pw->pw_uid == 0)
		return 0;
	if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		snprintf(err, errlen, "cannot become user %s: %s", pw->pw_name, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {
		snprintf(err, errlen, "could become root again after becoming %s", pw->pw_name);
		return -1;
	}
	return 0;
}
