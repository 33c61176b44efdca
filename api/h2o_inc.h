/* api/h2o_inc.h: the one place that includes h2o. libh2o-dev is the libuv
 * build, and H2O_USE_LIBUV changes h2o's struct layouts (h2o_loop_t, the
 * timeout backend): every file must see the same value, so nobody includes
 * <h2o.h> directly. The headers compile cleanly under the project's
 * -Wall -Wextra -Werror (they are system headers here), so no diagnostic
 * pragmas are needed; add them here, and only here, if that changes. */
#ifndef AMK_API_H2O_INC_H
#define AMK_API_H2O_INC_H

#define H2O_USE_LIBUV 1
#include <h2o.h>
#include <h2o/http1.h>
#include <h2o/http2.h>

#endif
