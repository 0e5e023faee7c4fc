/* libFuzzer target: everything a unit reads from another one. The first byte picks the
 * parser, the rest is the file. Built by ./configure --enable-fuzzing (clang). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "common/log.h"
#include "common/ossl.h"
#include "migration/bundle.h"
#include "migration/files.h"
#include "tokens/attr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_level(LOG_LEVEL_NONE);
	return ossl_init() == CKR_OK ? 0 : 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 5) {
	case 0: {
		struct bundle b;
		if (bundle_parse(data + 1, size - 1, &b) == CKR_OK) {
			/* whatever parsed must be safe to walk and to authenticate */
			for (size_t i = 0; i < b.nobjects; i++) {
				struct attrs a = ATTRS_INIT;
				if (!b.objects[i].is_private)
					attrs_deserialize(b.objects[i].attrs.data, b.objects[i].attrs.len, &a);
				attrs_clear(&a);
			}
			bundle_check_mac(&b, (const uint8_t *)"0123456789abcdef0123456789abcdef", 32);
			bundle_release(&b);
		}
		break;
	}
	case 1: {
		struct domain_file d;
		if (domain_file_parse(data + 1, size - 1, &d) == CKR_OK)
			domain_file_release(&d);
		break;
	}
	case 2: {
		struct unit_file u;
		if (unit_file_parse(data + 1, size - 1, &u) == CKR_OK)
			unit_file_release(&u);
		break;
	}
	case 3: {
		struct approval_file a;
		if (approval_file_parse(data + 1, size - 1, &a) == CKR_OK)
			approval_file_release(&a);
		break;
	}
	default: {
		struct attrs a = ATTRS_INIT;
		attrs_deserialize(data + 1, size - 1, &a);
		attrs_clear(&a);
		break;
	}
	}
	return 0;
}
