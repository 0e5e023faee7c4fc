/* The container every migration file uses (docs/formats.md):
 *
 *   "TPMHA\0"  kind (u8)  version (u8)  record*
 *   record = tag (u16) length (u32) value
 *
 * Big-endian; unknown tags are refused (a later version bumps the format version), a
 * tag the kind requires must be there, and at most 16 MiB in all. Files are untrusted
 * input: every read is bounded and every failure is CKR_DATA_INVALID-style with a log
 * line naming what is wrong. */
#ifndef TPMHA_MIGRATION_FORMAT_H
#define TPMHA_MIGRATION_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "common/buf.h"

#define FORMAT_MAGIC "TPMHA\0"
#define FORMAT_MAGIC_LEN 6
#define FORMAT_HEADER_LEN (FORMAT_MAGIC_LEN + 2)
#define FORMAT_MAX_SIZE (16u << 20)

enum format_kind {
	KIND_DOMAIN = 1,
	KIND_UNIT = 2,
	KIND_APPROVAL = 3,
	KIND_BUNDLE = 4,
	KIND_APPROVAL_REQUEST = 5,
};

const char *format_kind_name(enum format_kind kind); /* "domain file" */

void format_begin(struct buf *b, enum format_kind kind, uint8_t version);
void format_put(struct buf *b, uint16_t tag, const void *value, size_t len);
void format_put_u8(struct buf *b, uint16_t tag, uint8_t v);
void format_put_u64(struct buf *b, uint16_t tag, uint64_t v);

/* One record as read: the value stays in the caller's bytes. */
struct record {
	uint16_t tag;
	const uint8_t *value;
	size_t len;
};

struct format_reader {
	struct reader r;
	const char *what;     /* for log lines: "bundle", "domain file" */
	const uint8_t *start; /* the whole file */
};

/* Check magic, kind and version (CKR_DATA_INVALID for a file of another kind or a
 * truncated header, CKR_DATA_LEN_RANGE for one too large; an unknown version
 * is refused with its own message). */
CK_RV format_open(struct format_reader *fr, const uint8_t *data, size_t len, enum format_kind kind,
		  uint8_t version);
/* The next record; false at the end or on a malformed record (fr->r.failed). */
bool format_next(struct format_reader *fr, struct record *rec);
/* Offset of the reader in the file (to authenticate what came before a MAC). */
size_t format_offset(const struct format_reader *fr);

/* Helpers for record values. */
bool record_u8(const struct record *rec, uint8_t *v);
bool record_u64(const struct record *rec, uint64_t *v);
bool record_fixed(const struct record *rec, void *out, size_t len);

#endif
