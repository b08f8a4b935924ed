/* monoclock: the monotonic clock, for intervals and deadlines (webhook
 * retries, the writer's probe and commit times, PostgreSQL query deadlines,
 * the benchmark) that must not jump when the wall clock is set. */
#ifndef MB_MONOCLOCK_H
#define MB_MONOCLOCK_H

/* Seconds since an arbitrary fixed point (CLOCK_MONOTONIC), nanosecond
 * resolution; only differences mean anything. */
double monotonic_seconds(void);
/* The same clock in whole milliseconds, for poll() timeouts and deadlines. */
long long monotonic_ms(void);

#endif
