/* callbacks: the milter's libmilter callback table and how many
 * connections are open (so a stop can wait for messages in flight). */
#ifndef MB_CALLBACKS_H
#define MB_CALLBACKS_H
#include <libmilter/mfapi.h>

extern struct smfiDesc milter_desc;
int callbacks_active(void);

#endif
