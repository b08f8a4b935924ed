/* beacon/state: the one instance of mailbeacond's loaded state (see
 * state.h). Defined apart from main.c, which fills it, so that the files
 * that read it do not depend on the program's start-up. */
#include "state.h"

struct beacon bc;
