/*
 * template.h - message templates per event and language (Japanese by
 * default, English), shipped with the plugin, and their rendering:
 * "{{name}}" is replaced by the variable's value, cleaned for the channel
 * (valid UTF-8, no controls; line breaks only in bodies).  Pure C.
 */
#ifndef NOTIFY_TEMPLATE_H
#define NOTIFY_TEMPLATE_H

#include <stddef.h>

typedef struct tpl_var {
    const char *name;
    const char *value; /* NULL reads as "" */
} tpl_var;

typedef struct notify_template {
    const char *event;
    const char *lang; /* "ja", "en" */
    const char *subject;
    const char *body;
} notify_template;

/* The default template of event in lang (falling back to "ja"), or NULL
 * when the plugin has none for the event. */
const notify_template *tpl_find(const char *event, const char *lang);

/* Renders text with vars; keep_lf 0 for a subject (one line).  malloc'd,
 * NULL when out of memory. */
char *tpl_render(const char *text, const tpl_var *vars, size_t nvars, int keep_lf);

#endif
