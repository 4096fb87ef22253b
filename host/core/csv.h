/*
 * csv.h - RFC 4180 fields for exports (A5, the audit log).
 *
 * A field is quoted when it holds a comma, quote, CR or LF.  A field that
 * starts with = + - @ (or TAB/CR) gets a leading apostrophe, so a
 * spreadsheet opening the export never runs it as a formula (CSV
 * injection).
 */
#ifndef HOST_CSV_H
#define HOST_CSV_H

#include "buf.h"

/* Appends one field, preceded by a comma unless first. */
void host_csv_field(host_buf *out, const char *value, int first);

#endif
