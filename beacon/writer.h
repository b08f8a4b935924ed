/* beacon/writer: the group commit. An open or a click is queued, its
 * connection suspended, and resumed (its response sent) only once the
 * writer thread has committed it with the rest of its batch. */
#ifndef MB_WRITER_H
#define MB_WRITER_H
#include <stdbool.h>
#include "geoip.h"
#include "store.h"

struct MHD_Connection;

struct pending {
	struct store_event ev;
	char message_id[32];
	char ip[64];
	char client[32];
	struct geoip_place place;
	char verdict[16];
	struct MHD_Connection *conn;	/* resumed once committed */
	bool committed;
	bool done;
	struct pending *next;
};

int writer_start(void);
/* Queues p and suspends its connection; the writer resumes it. */
void writer_submit(struct pending *p);
/* Commits and answers what is queued, then stops the thread. */
void writer_stop(void);

#endif
