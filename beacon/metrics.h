/* beacon/metrics: the counters mailbeacond shows on /metrics, in the
 * Prometheus text format. */
#ifndef MB_METRICS_H
#define MB_METRICS_H
#include <stddef.h>
#include "classify.h"

void metrics_request(const char *route, unsigned status);
void metrics_event(enum verdict v);
void metrics_forgery(void);
void metrics_lost(void);
void metrics_refused_connection(void);
void metrics_commit(double seconds, size_t batch);
/* The whole page, malloc'd, with the webhooks' counters at the end. */
char *metrics_render(size_t *len);

#endif
