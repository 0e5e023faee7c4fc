#include "config.h"

#include <string.h>

#include "common/log.h"
#include "migration/format.h"

const char *format_kind_name(enum format_kind kind)
{
	switch (kind) {
	case KIND_DOMAIN:
		return "domain file";
	case KIND_UNIT:
		return "unit identity file";
	case KIND_APPROVAL:
		return "approval file";
	case KIND_BUNDLE:
		return "migration bundle";
	case KIND_APPROVAL_REQUEST:
		return "approval request";
	}
	return "file";
}

void format_begin(struct buf *b, enum format_kind kind, uint8_t version)
{
	buf_put(b, FORMAT_MAGIC, FORMAT_MAGIC_LEN);
	buf_put_u8(b, (uint8_t)kind);
	buf_put_u8(b, version);
}

void format_put(struct buf *b, uint16_t tag, const void *value, size_t len)
{
	if (len > FORMAT_MAX_SIZE) {
		b->failed = true;
		return;
	}
	buf_put_u16(b, tag);
	buf_put_u32(b, (uint32_t)len);
	buf_put(b, value, len);
}

void format_put_u8(struct buf *b, uint16_t tag, uint8_t v)
{
	format_put(b, tag, &v, 1);
}

void format_put_u64(struct buf *b, uint16_t tag, uint64_t v)
{
	uint8_t o[8];

	for (int i = 0; i < 8; i++)
		o[i] = (uint8_t)(v >> (56 - 8 * i));
	format_put(b, tag, o, sizeof(o));
}

CK_RV format_open(struct format_reader *fr, const uint8_t *data, size_t len, enum format_kind kind,
		  uint8_t version)
{
	uint8_t got_kind, got_version;

	fr->what = format_kind_name(kind);
	fr->start = data;
	fr->r = reader_init(data, len);
	if (len > FORMAT_MAX_SIZE) {
		LOGW("%s: %zu bytes is more than any tpmha file can be", fr->what, len);
		return CKR_DATA_LEN_RANGE;
	}
	if (!data || len < FORMAT_HEADER_LEN || memcmp(data, FORMAT_MAGIC, FORMAT_MAGIC_LEN) != 0) {
		LOGW("%s: not a tpmha file (no TPMHA header)", fr->what);
		return CKR_DATA_INVALID;
	}
	got_kind = data[FORMAT_MAGIC_LEN];
	got_version = data[FORMAT_MAGIC_LEN + 1];
	if (got_kind != kind) {
		LOGW("%s expected, but this is a %s", fr->what, format_kind_name((enum format_kind)got_kind));
		return CKR_DATA_INVALID;
	}
	if (got_version != version) {
		LOGW("%s: format version %u is not one this tpmha reads (it reads version %u)", fr->what,
		     got_version, version);
		return CKR_DATA_INVALID;
	}
	read_view(&fr->r, FORMAT_HEADER_LEN);
	return CKR_OK;
}

bool format_next(struct format_reader *fr, struct record *rec)
{
	if (fr->r.failed || fr->r.left == 0)
		return false;
	rec->tag = read_u16(&fr->r);
	rec->value = read_lv(&fr->r, &rec->len, FORMAT_MAX_SIZE);
	if (fr->r.failed) {
		LOGW("%s: truncated record at byte %zu", fr->what, format_offset(fr));
		return false;
	}
	return true;
}

size_t format_offset(const struct format_reader *fr)
{
	return (size_t)(fr->r.p - fr->start);
}

bool record_u8(const struct record *rec, uint8_t *v)
{
	if (rec->len != 1)
		return false;
	*v = rec->value[0];
	return true;
}

bool record_u64(const struct record *rec, uint64_t *v)
{
	if (rec->len != 8)
		return false;
	*v = 0;
	for (int i = 0; i < 8; i++)
		*v = (*v << 8) | rec->value[i];
	return true;
}

bool record_fixed(const struct record *rec, void *out, size_t len)
{
	if (rec->len != len)
		return false;
	memcpy(out, rec->value, len);
	return true;
}
