#ifndef DELTASEAL_CSQLITE_SHIM_H
#define DELTASEAL_CSQLITE_SHIM_H
#include <sqlite3.h>

// Typed wrappers for what Swift cannot call: variadic functions and pointer macros.

/// sqlite3_db_config for the integer on/off options (DEFENSIVE, TRUSTED_SCHEMA, ...).
static inline int dsq_db_config_flag(sqlite3 *db, int op, int value) {
    int current = 0;
    return sqlite3_db_config(db, op, value, &current);
}

/// SQLITE_TRANSIENT: SQLite copies the bound bytes before the call returns.
static inline sqlite3_destructor_type dsq_transient(void) {
    return SQLITE_TRANSIENT;
}
#endif
