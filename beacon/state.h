/* beacon/state: what mailbeacond loads at start and its parts read: the
 * configuration, the signing keys (swapped on SIGHUP), the hash key and
 * the API token. One instance, bc (state.c), filled by main.c. */
#ifndef MB_STATE_H
#define MB_STATE_H
#include <pthread.h>
#include "mbconfig.h"
#include "keyring.h"
#include "store.h"

struct MHD_Daemon;

struct beacon {
	struct config cfg;
	struct keyring *keys;		/* swapped on SIGHUP under keys_lock */
	pthread_rwlock_t keys_lock;
	struct store_hash_key hash_key;
	char *api_token;		/* NULL: the API is off */
	struct MHD_Daemon *httpd;
};

extern struct beacon bc;

#endif
