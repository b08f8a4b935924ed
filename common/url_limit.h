/* url_limit: the longest tracking URL, one limit for both ends. The milter
 * leaves a link unrewritten when its click URL would be longer, and
 * mailbeacond answers 414 to a longer request path, so every URL the milter
 * writes is one the beacon accepts. */
#ifndef MB_URL_LIMIT_H
#define MB_URL_LIMIT_H

/* Octets of the whole URL as the milter writes it (BEACON_URL/c/TOKEN...);
 * the path the beacon receives is part of it, never longer. */
#define TRACKING_URL_MAX 8192

#endif
