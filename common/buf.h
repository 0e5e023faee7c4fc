/* Growable byte buffers and bounds-checked readers for the portable formats
 * (attribute lists, store records, migration blobs). All integers big-endian. */
#ifndef TPMHA_COMMON_BUF_H
#define TPMHA_COMMON_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	bool failed; /* an allocation failed; every later put is a no-op */
	bool secret; /* wipe on growth and on buf_release() */
};

#define BUF_INIT { 0 }

void buf_put(struct buf *b, const void *p, size_t n);
void buf_put_u8(struct buf *b, uint8_t v);
void buf_put_u16(struct buf *b, uint16_t v);
void buf_put_u32(struct buf *b, uint32_t v);
void buf_put_u64(struct buf *b, uint64_t v);
/* u32 length then bytes */
void buf_put_lv(struct buf *b, const void *p, size_t n);
/* Give the bytes to the caller (who frees them); the buf is reset. NULL if failed. */
uint8_t *buf_take(struct buf *b, size_t *len);
void buf_release(struct buf *b);

struct reader {
	const uint8_t *p;
	size_t left;
	bool failed; /* read past the end, or a length that does not fit */
};

static inline struct reader reader_init(const void *p, size_t n)
{
	struct reader r = { .p = p, .left = n, .failed = false };
	return r;
}

bool read_bytes(struct reader *r, void *out, size_t n);
/* Point at the next n bytes without copying. */
const uint8_t *read_view(struct reader *r, size_t n);
uint8_t read_u8(struct reader *r);
uint16_t read_u16(struct reader *r);
uint32_t read_u32(struct reader *r);
uint64_t read_u64(struct reader *r);
/* u32 length then bytes, viewed in place; max bounds the length. */
const uint8_t *read_lv(struct reader *r, size_t *n, size_t max);

#endif
