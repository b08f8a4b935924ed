/* fuzz_config: libFuzzer target for config_load(), given the input as a memfd
 * read through /proc/self/fd, the way the daemons read their file. An error
 * names the file; a loaded configuration has valid beacon and privacy URLs. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "mbconfig.h"
#include "undo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
write_all(int fd, const uint8_t *data, size_t size)
{
	while (size > 0) {
		ssize_t n = write(fd, data, size);
		if (n <= 0)
			return -1;
		data += n;
		size -= (size_t)n;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	struct config cfg;
	char err[400] = "";

	if (fd < 0) {
		if ((fd = memfd_create("fuzz-config", MFD_CLOEXEC)) < 0)
			fuzz_fail("config", "memfd_create failed");
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0 || write_all(fd, data, size) < 0)
		fuzz_fail("config", "cannot write the memfd");
	if (config_load(path, &cfg, err, sizeof(err)) < 0) {
		if (strncmp(err, path, strlen(path)) != 0 || err[strlen(path)] != ':')
			fuzz_fail("config", "an error that does not name the file: %s", err);
		return 0;
	}
	if (cfg.beacon_url == NULL || config_check_url(cfg.beacon_url, 1) != 0)
		fuzz_fail("config", "loaded with a bad beacon_url: %s", cfg.beacon_url);
	if (cfg.privacy_url == NULL || config_check_url(cfg.privacy_url, 0) != 0)
		fuzz_fail("config", "loaded with a bad privacy_url: %s", cfg.privacy_url);
	if (cfg.n_internal_hosts > 0 && cfg.internal_hosts == NULL)
		fuzz_fail("config", "internal_hosts counted but missing");
	config_free(&cfg);
	return 0;
}
