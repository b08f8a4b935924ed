/* sendmail: hands one complete message to the local MTA through the
 * sendmail_path command of mailbeacon.conf(5), within a deadline. Shared by
 * the beacon's "Read:" notifications (notify=mail) and mailbeacon digest, so
 * that both run the MTA the same way. */
#ifndef MB_SENDMAIL_H
#define MB_SENDMAIL_H
#include <stddef.h>

/*
 * Runs "SENDMAIL_PATH -t -oi -f FROM" (sendmail_path split at spaces; no
 * shell), writes msg (headers naming the recipients, CRLF or LF line ends,
 * no "From " line) to its standard input and waits for it to exit, all
 * within timeout_ms. from is the envelope sender: "<>" for the null sender
 * or an address. Thread-safe (posix_spawn; SIGPIPE is held back in the
 * calling thread while writing). Returns 0 when the command exited 0;
 * otherwise -1 with the reason in err: it could not start, it exited with
 * a status (with the first line it printed), it was killed by a signal, or
 * it did not finish in time (it is then killed with SIGKILL and reaped).
 */
int sendmail_send(const char *sendmail_path, const char *from, const char *msg, size_t len,
		  int timeout_ms, char *err, size_t errlen);

#endif
