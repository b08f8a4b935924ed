/* report_days: the per-day series of a report's charts (JSON "days", the
 * HTML chart): the range of UTC days that the options and the data call
 * for, filled with the human opens and clicks the store counted per day. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "report_fmt.h"

static long long
day_of(long long t)
{
	return t / 86400 - (t % 86400 < 0);
}

struct day_fill {
	struct report_days *d;
};

static int
day_cb(void *arg, const struct report_day *rd)
{
	struct report_days *d = ((struct day_fill *)arg)->d;
	long long i = rd->day - d->first;

	if (i >= 0 && i < d->n) {
		d->opens[i] += rd->opens_human;
		d->clicks[i] += rd->clicks_human;
	}
	return 0;
}

/*
 * The chart's range: from the day of --since (else of the first message)
 * to the day of the latest message or event; when a range was asked for
 * (--since or --until), at least to the day of --until (else now), never
 * past now. At most REPORT_MAX_DAYS, the latest.
 */
int
report_load_days(const struct report_data *rd, const struct report_opts *o,
		 struct report_days *d, char *err, size_t errlen)
{
	const struct report_counts *t = store_report_totals(rd);
	long long first, last;
	struct day_fill fill = { d };

	memset(d, 0, sizeof(*d));
	if (t->messages == 0)
		return 0;
	first = o->f.has_since ? o->f.since : t->first_sent;
	last = t->last_sent;
	if (t->has_last_event && t->last_event > last)
		last = t->last_event;
	if (o->f.has_since || o->f.has_until) {
		long long end = o->f.has_until ? o->f.until - 1 : o->now;

		if (end > o->now)
			end = o->now;
		if (end > last)
			last = end;
	}
	if (first > last)
		first = last;
	d->first = day_of(first);
	d->n = day_of(last) - d->first + 1;
	if (d->n > REPORT_MAX_DAYS) {
		d->first += d->n - REPORT_MAX_DAYS;
		d->n = REPORT_MAX_DAYS;
		d->truncated = true;
	}
	d->opens = calloc((size_t)d->n, sizeof(*d->opens));
	d->clicks = calloc((size_t)d->n, sizeof(*d->clicks));
	if (d->opens == NULL || d->clicks == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (store_report_days(rd, day_cb, &fill, err, errlen) != 0)
		return -1;
	return 0;
}

void
report_free_days(struct report_days *d)
{
	free(d->opens);
	free(d->clicks);
	memset(d, 0, sizeof(*d));
}
