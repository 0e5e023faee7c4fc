libtpmha_core_la_SOURCES += tpm/backend.c tpm/backend.h tpm/domain.c
libtpmha_core_la_SOURCES += \
	tpm/tpm2_int.h \
	tpm/tpm2_backend.c \
	tpm/tpm2_cmd.c \
	tpm/tpm2_create.c \
	tpm/tpm2_crypto.c \
	tpm/tpm2_keys.c \
	tpm/tpm2_migrate.c \
	tpm/tpm2_policy.c \
	tpm/tpm2_rsa.c \
	tpm/tpm2_session.c \
	tpm/tpm2_templates.c \
	tpm/tpm2_wrap.c
# TPM 1.2 through trousers' TSPI (tcsd)
libtpmha_core_la_SOURCES += \
	tpm/tpm12_int.h \
	tpm/tpm12_domain.h \
	tpm/tpm12_backend.c \
	tpm/tpm12_crypto.c \
	tpm/tpm12_format.c \
	tpm/tpm12_keys.c \
	tpm/tpm12_migrate.c
libtpmha_core_la_LIBADD += $(TSPI_LIBS)
