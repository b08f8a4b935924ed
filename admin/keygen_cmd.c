/* mailbeacon keygen: makes a signing key (first line of a new or existing
 * key_file, which is how keys are rotated), a data key (the same, in
 * data_key_file) or the recipient hash key. The
 * file is replaced atomically and never becomes readable by others. */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "admin.h"
#include "b64url.h"
#include "keyring.h"
#include "log.h"
#include "mbuf.h"
#include "store.h"

#define KEYGEN_SECRET_BYTES 32

void
keygen_usage(FILE *f)
{
	fprintf(f, "usage: mailbeacon keygen [--id KEYID] [--group GROUP] [-o FILE]\n"
		"       mailbeacon keygen --data [--id KEYID] [--group GROUP] [-o FILE]\n"
		"       mailbeacon keygen --hash [--group GROUP] [-o FILE]\n"
		"Makes a key of 32 random bytes. Without -o the key line is printed.\n"
		"With -o FILE and no --hash: a signing key line \"KEYID SECRET\" (KEYID defaults\n"
		"to the year and month, UTC). A new FILE gets it alone; an existing key file\n"
		"gets it as its first line, so it signs from now on and the older keys still\n"
		"verify (rotation: then SIGHUP mailbeacond, then mailbeacon-milter).\n"
		"With --data: the same for a key of data_key_file (encryption at rest): the\n"
		"first key is to encrypt new values, the older keys to decrypt old ones.\n"
		"With --hash: the recipient hash key alone; FILE must not exist (this key is\n"
		"never rotated: stored opt-outs depend on it).\n"
		"A new file is mode 0600, or 0640 with group GROUP (so that the daemons'\n"
		"user can read it); an existing file keeps its owner, group and mode.\n"
		"Needs no configuration file.\n");
}

/* The new file's text: the new line, then the old file's text (rotation). */
static int
keygen_text(const char *id, int hash, const char *old, size_t oldlen,
	    struct mbuf *out)
{
	unsigned char secret[KEYGEN_SECRET_BYTES];
	struct mbuf enc;
	int rc = 0;

	mbuf_init(&enc);
	randombytes_buf(secret, sizeof(secret));
	if (b64url_encode(secret, sizeof(secret), &enc) < 0)
		rc = -1;
	else if (hash)
		rc = mbuf_printf(out, "%.*s\n", (int)enc.len, enc.data);
	else
		rc = mbuf_printf(out, "%s %.*s\n", id, (int)enc.len, enc.data);
	if (rc == 0 && oldlen > 0) {
		rc = mbuf_append(out, old, oldlen);
		if (rc == 0 && old[oldlen - 1] != '\n')
			rc = mbuf_putc(out, '\n');
	}
	sodium_memzero(secret, sizeof(secret));
	if (enc.data != NULL)
		sodium_memzero(enc.data, enc.cap);
	mbuf_free(&enc);
	return rc;
}

static int
keygen_write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Checks the new text with the same loader the daemons use, through the
 * temporary file (so its permissions are checked too). */
static int
keygen_check(const char *tmp, int hash, const char *id, char *err, size_t errlen)
{
	if (hash) {
		struct store_hash_key k;
		int rc = store_hash_key_load(tmp, &k, err, errlen);
		sodium_memzero(&k, sizeof(k));
		return rc;
	}
	struct keyring kr = { 0 };
	if (keyring_load(tmp, &kr, err, errlen) < 0)
		return -1;
	int ok = kr.n > 0 && strcmp(kr.keys[0].id, id) == 0;
	keyring_free(&kr);
	if (!ok) {
		snprintf(err, errlen, "the new key did not load as the first key");
		return -1;
	}
	return 0;
}

static int
keygen_file(const char *path, const char *id, int hash, int data, const char *group)
{
	struct stat old_st;
	struct mbuf old, text;
	char tmp[4096], err[512];
	int have_old, fd = -1, rc = EXIT_RUNTIME;
	gid_t gid = (gid_t)-1;

	if (group != NULL) {
		struct group *gr = getgrnam(group);
		if (gr == NULL) {
			log_warnx("keygen: no group '%s'", group);
			return EXIT_USAGE;
		}
		gid = gr->gr_gid;
	}
	have_old = stat(path, &old_st) == 0;
	if (!have_old && errno != ENOENT) {
		log_warn("keygen: %s", path);
		return EXIT_RUNTIME;
	}
	if (have_old && hash) {
		log_warnx("keygen: %s exists; the hash key is never "
			"replaced (stored opt-outs and recipient hashes depend on it)", path);
		return EXIT_USAGE;
	}
	mbuf_init(&old);
	mbuf_init(&text);
	if (have_old) {
		struct keyring kr = { 0 };
		/* Refuses to rotate a file the daemons would not load. */
		if (keyring_load(path, &kr, err, sizeof(err)) < 0) {
			log_warnx("keygen: %s", err);
			rc = EXIT_USAGE;
			goto out;
		}
		int dup = keyring_find(&kr, id, strlen(id)) != NULL;
		keyring_free(&kr);
		if (dup) {
			log_warnx("keygen: %s already has key id '%s'; "
				"choose another with --id", path, id);
			rc = EXIT_USAGE;
			goto out;
		}
		int ofd = open(path, O_RDONLY | O_CLOEXEC);
		if (ofd < 0 || mbuf_read_fd(&old, ofd, 256 * 1024) < 0) {
			log_warnx("keygen: %s: cannot read", path);
			if (ofd >= 0)
				close(ofd);
			goto out;
		}
		close(ofd);
	}
	if (keygen_text(id, hash, old.data, old.len, &text) < 0) {
		log_warnx("keygen: out of memory");
		goto out;
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.new.%ld", path, (long)getpid()) >= sizeof(tmp)) {
		log_warnx("keygen: %s: name too long", path);
		rc = EXIT_USAGE;
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_warn("keygen: %s", tmp);
		goto out;
	}
	/* Owner and mode are set before the secret is written. */
	if ((have_old && (fchown(fd, old_st.st_uid, old_st.st_gid) < 0 ||
			  fchmod(fd, old_st.st_mode & 0640) < 0)) ||
	    (!have_old && gid != (gid_t)-1 &&
	     (fchown(fd, (uid_t)-1, gid) < 0 || fchmod(fd, 0640) < 0))) {
		log_warn("keygen: %s: cannot set owner or mode", tmp);
		goto out_unlink;
	}
	if (keygen_write_all(fd, text.data, text.len) < 0 || fsync(fd) < 0) {
		log_warn("keygen: %s", tmp);
		goto out_unlink;
	}
	if (close(fd) < 0) {
		fd = -1;
		log_warn("keygen: %s", tmp);
		goto out_unlink;
	}
	fd = -1;
	if (keygen_check(tmp, hash, id, err, sizeof(err)) < 0) {
		log_warnx("keygen: %s", err);
		goto out_unlink;
	}
	if (rename(tmp, path) < 0) {
		log_warn("keygen: %s", path);
		goto out_unlink;
	}
	if (hash)
		log_info("keygen: wrote the hash key to %s; back it up "
			"with the database", path);
	else if (data && have_old)
		log_info("keygen: %s: data key '%s' now encrypts new values; the older "
			"keys still decrypt what they encrypted. Restart or SIGHUP the programs",
			path, id);
	else if (data)
		log_info("keygen: wrote data key '%s' to %s; back it up apart from "
			"the database (without it, the encrypted fields are lost)", id, path);
	else if (have_old)
		log_info("keygen: %s: key '%s' now signs; the older keys "
			"still verify. Send SIGHUP to mailbeacond, then to mailbeacon-milter",
			path, id);
	else
		log_info("keygen: wrote signing key '%s' to %s", id, path);
	rc = 0;
	goto out;
out_unlink:
	unlink(tmp);
out:
	if (fd >= 0)
		close(fd);
	if (text.data != NULL)
		sodium_memzero(text.data, text.cap);
	mbuf_free(&text);
	mbuf_free(&old);
	return rc;
}

int
cmd_keygen(struct admin_env *env, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "id", required_argument, NULL, 'i' },
		{ "hash", no_argument, NULL, 'H' },
		{ "data", no_argument, NULL, 'D' },
		{ "group", required_argument, NULL, 'g' },
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL, *group = NULL;
	char id[KEY_ID_MAX + 1];
	int hash = 0, data = 0, c;

	(void)env;
	time_t now = time(NULL);
	struct tm tm;
	strftime(id, sizeof(id), "%Y%m", gmtime_r(&now, &tm));
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (strlen(optarg) > KEY_ID_MAX ||
			    optarg[strspn(optarg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")] != '\0' ||
			    optarg[0] == '\0') {
				log_warnx("keygen: --id: 1 to %d of A-Z a-z 0-9 - _",
					KEY_ID_MAX);
				return EXIT_USAGE;
			}
			strcpy(id, optarg);
			break;
		case 'H':
			hash = 1;
			break;
		case 'D':
			data = 1;
			break;
		case 'g':
			group = optarg;
			break;
		case 'o':
			path = optarg;
			break;
		default:
			keygen_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc || (hash && data)) {
		keygen_usage(stderr);
		return EXIT_USAGE;
	}
	if (sodium_init() < 0) {
		log_warnx("keygen: libsodium failed to start");
		return EXIT_RUNTIME;
	}
	if (path != NULL)
		return keygen_file(path, id, hash, data, group);

	struct mbuf text;
	mbuf_init(&text);
	int rc = keygen_text(id, hash, NULL, 0, &text) < 0 ||
		 fwrite(text.data, 1, text.len, stdout) != text.len ||
		 fflush(stdout) != 0 ? EXIT_RUNTIME : 0;
	if (text.data != NULL)
		sodium_memzero(text.data, text.cap);
	mbuf_free(&text);
	return rc;
}
