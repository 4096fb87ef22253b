/*
 * tanomu/abi.h - version numbers of the plugin ABI and the rules they encode.
 *
 * MAJOR changes when a struct member moves or changes meaning: the host
 * refuses a plugin built for another major.  MINOR changes when members are
 * appended to the end of a struct (the function table, the descriptor): a
 * host serves any plugin built for its own minor or an older one, and a
 * plugin may run on a newer host.  Every struct that crosses the boundary
 * starts with its own size so either side can tell what the other knows.
 */
#ifndef TANOMU_ABI_H
#define TANOMU_ABI_H

#define TN_SDK_ABI_MAJOR 1
#define TN_SDK_ABI_MINOR 2

/* The one symbol a plugin exports.  Its type is tn_plugin_entry_fn. */
#define TN_PLUGIN_ENTRY_SYMBOL "tn_plugin_entry"

/* Plugin names (and therefore file names: NAME.so) match [a-z0-9_]{1,32}. */
#define TN_PLUGIN_NAME_MAX 32

#endif
