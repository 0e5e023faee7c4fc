#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/secret.h"

static bool buf_reserve(struct buf *b, size_t more)
{
	size_t need, cap;
	uint8_t *grown;

	if (b->failed)
		return false;
	if (more > SIZE_MAX - b->len) {
		b->failed = true;
		return false;
	}
	need = b->len + more;
	if (need <= b->cap)
		return true;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (b->secret) {
		/* realloc could leave a copy of the secret behind: move it ourselves */
		grown = malloc(cap);
		if (grown && b->len)
			memcpy(grown, b->data, b->len);
		if (grown)
			secret_free(b->data, b->cap);
	} else {
		grown = realloc(b->data, cap);
	}
	if (!grown) {
		b->failed = true;
		return false;
	}
	b->data = grown;
	b->cap = cap;
	return true;
}

void buf_put(struct buf *b, const void *p, size_t n)
{
	if (!n || !buf_reserve(b, n))
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void buf_put_u8(struct buf *b, uint8_t v)
{
	buf_put(b, &v, 1);
}

void buf_put_u16(struct buf *b, uint16_t v)
{
	uint8_t o[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	buf_put(b, o, sizeof(o));
}

void buf_put_u32(struct buf *b, uint32_t v)
{
	uint8_t o[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	buf_put(b, o, sizeof(o));
}

void buf_put_u64(struct buf *b, uint64_t v)
{
	buf_put_u32(b, (uint32_t)(v >> 32));
	buf_put_u32(b, (uint32_t)v);
}

void buf_put_lv(struct buf *b, const void *p, size_t n)
{
	if (n > UINT32_MAX) {
		b->failed = true;
		return;
	}
	buf_put_u32(b, (uint32_t)n);
	buf_put(b, p, n);
}

uint8_t *buf_take(struct buf *b, size_t *len)
{
	uint8_t *data;

	if (b->failed) {
		buf_release(b);
		return NULL;
	}
	if (!b->data && !buf_reserve(b, 1)) {
		buf_release(b);
		return NULL;
	}
	data = b->data;
	*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return data;
}

void buf_release(struct buf *b)
{
	if (b->secret)
		secret_free(b->data, b->cap);
	else
		free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->failed = false;
}

const uint8_t *read_view(struct reader *r, size_t n)
{
	const uint8_t *p;

	if (r->failed || n > r->left) {
		r->failed = true;
		return NULL;
	}
	p = r->p;
	r->p += n;
	r->left -= n;
	return p;
}

bool read_bytes(struct reader *r, void *out, size_t n)
{
	const uint8_t *p = read_view(r, n);

	if (!p)
		return false;
	if (n)
		memcpy(out, p, n);
	return true;
}

uint8_t read_u8(struct reader *r)
{
	const uint8_t *p = read_view(r, 1);
	return p ? p[0] : 0;
}

uint16_t read_u16(struct reader *r)
{
	const uint8_t *p = read_view(r, 2);
	return p ? (uint16_t)((p[0] << 8) | p[1]) : 0;
}

uint32_t read_u32(struct reader *r)
{
	const uint8_t *p = read_view(r, 4);
	return p ? ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3] : 0;
}

uint64_t read_u64(struct reader *r)
{
	uint64_t hi = read_u32(r);
	return (hi << 32) | read_u32(r);
}

const uint8_t *read_lv(struct reader *r, size_t *n, size_t max)
{
	uint32_t len = read_u32(r);

	if (r->failed || len > max || len > r->left) {
		r->failed = true;
		*n = 0;
		return NULL;
	}
	*n = len;
	return read_view(r, len);
}
