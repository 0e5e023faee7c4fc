include tests/unit/local.mk
include tests/tpm/local.mk
include tests/integration/local.mk
include tests/interop/local.mk
include tests/cli/local.mk
include tests/fuzz/local.mk
include tests/tpm12/local.mk
include tests/migration/local.mk
