/* The tpmha admin CLI: what the command files share.
 *
 * Commands form a tree (struct cli_cmd): a group ("token", "key") has
 * subcommands, a leaf has a run function and its options. A new command is one
 * table entry and one function; tpmha.c parses, checks the options against the
 * command's table and prints the help, so every command gets --help, usage
 * errors and exit statuses the same way.
 *
 * Everything PKCS#11 can do goes through the module's function list; the rest
 * (TPM identity and lockout, the configuration in force, token deletion) through
 * module/admin.h. */
#ifndef TPMHA_TOOLS_CLI_H
#define TPMHA_TOOLS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <p11-kit/pkcs11.h>

#include "common/ossl.h"   /* enum hash_alg */
#include "tokens/token.h" /* PIN_MIN_LEN, PIN_MAX_LEN */
#include "tpmha/tpmha.h"  /* the vendor classes and function list */

/* Exit statuses (docs/cli.md). */
#define CLI_OK 0
#define CLI_USAGE 1  /* bad command line, or no PIN could be read; nothing was done */
#define CLI_FAILED 2 /* the operation failed */
#define CLI_PIN 3    /* wrong PIN, or the TPM is in dictionary-attack lockout */

struct cli;

struct cli_opt {
	const char *name; /* without "--" */
	const char *arg;  /* the value's name in help; NULL for a flag */
	const char *help;
};

struct cli_cmd {
	const char *name;
	const char *summary;          /* one line, for command lists */
	const struct cli_cmd *const *subs; /* a group: its subcommands, ended by NULL */
	int (*run)(struct cli *c);    /* a leaf */
	const char *usage;            /* what follows "tpmha <path> " in the usage line */
	const struct cli_opt *opts;   /* ended by { NULL }; --help is implicit */
	const char *more;             /* help text after the options: notes, examples */
};

#define CLI_MAX_OPTS 24

struct cli {
	const struct cli_cmd *cmd;
	char path[64];                  /* "key generate", for messages */
	const char *val[CLI_MAX_OPTS];  /* by index in cmd->opts; a flag given is "" */
	CK_FUNCTION_LIST *p11;          /* set by cli_p11_start() */
	bool p11_ready;                 /* C_Initialize succeeded */
};

/* ---- options shared by several commands ---- */
#define OPT_TOKEN_SELECT \
	{ "token", "LABEL", "the token, by its label" }, \
	{ "serial", "SERIAL", "the token, by its serial number (see `tpmha token list`)" }
#define OPT_USER_PIN \
	{ "pin-file", "FILE", "read the user PIN from the first line of FILE" }, \
	{ "pin-env", "VAR", "read the user PIN from the environment variable VAR" }
#define OPT_SO_PIN \
	{ "so-pin-file", "FILE", "read the SO PIN from the first line of FILE" }, \
	{ "so-pin-env", "VAR", "read the SO PIN from the environment variable VAR" }
#define OPT_JSON { "json", NULL, "print JSON instead of text" }
#define OPT_END { NULL, NULL, NULL }

/* The value of option NAME, NULL if not given (a flag given is ""). NAME must be
 * one of the command's options. */
const char *cli_get(const struct cli *c, const char *name);
static inline bool cli_has(const struct cli *c, const char *name)
{
	return cli_get(c, name) != NULL;
}
/* The option must be given: CLI_OK or a usage error. */
int cli_require(const struct cli *c, const char *name);
/* At most one of the two options (exactly one if required): CLI_OK or a usage error. */
int cli_one_of(const struct cli *c, const char *a, const char *b, bool required);

/* Messages on stderr, "tpmha: ..." — each returns the exit status to use. */
int cli_usage(const struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "tpmha: <what>: CKR_NAME: <explanation>"; CLI_PIN for a wrong PIN or lockout. */
int cli_fail_rv(struct cli *c, CK_RV rv, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const char *cli_rv_name(CK_RV rv);     /* "CKR_PIN_INCORRECT", or NULL if unknown */
const char *cli_rv_explain(CK_RV rv);  /* a plain sentence, or NULL */

/* ---- PINs (pin.c) ---- */
struct pin {
	size_t len;
	char value[PIN_MAX_LEN + 2]; /* room for a newline while reading, and a NUL */
};

/* A PIN from option FILE_OPT's file, ENV_OPT's variable, or the terminal (stdin
 * only, without echo). A new PIN is asked twice at the prompt and must have
 * PIN_MIN_LEN..PIN_MAX_LEN characters. what: "user PIN", "new SO PIN". */
int cli_pin_get(const struct cli *c, const char *file_opt, const char *env_opt, const char *what,
	    bool new_pin, struct pin *out);
void cli_pin_clear(struct pin *p);

/* ---- PKCS#11 (p11.c) ---- */
struct token_ref {
	CK_SLOT_ID slot;
	CK_TOKEN_INFO info;
	char label[33];  /* trailing blanks removed */
	char serial[17];
};

int cli_p11_start(struct cli *c);  /* C_GetFunctionList + C_Initialize */
void cli_p11_stop(struct cli *c);  /* C_Finalize if started; fine to call twice */
/* The initialized tokens, in slot order. free() the array. */
int cli_tokens(struct cli *c, struct token_ref **out, size_t *count);
/* The one token --token/--serial names (one of them required). */
int cli_token_choose(struct cli *c, struct token_ref *t);
int cli_session_open(struct cli *c, const struct token_ref *t, bool rw, CK_SESSION_HANDLE *h);
void cli_session_close(struct cli *c, CK_SESSION_HANDLE h); /* logs out first; 0 fine */
/* Ask the user PIN (--pin-file/--pin-env/prompt) and log in. */
int cli_login_user(struct cli *c, const struct token_ref *t, CK_SESSION_HANDLE h);
int cli_login(struct cli *c, const struct token_ref *t, CK_SESSION_HANDLE h,
		  CK_USER_TYPE who, const struct pin *pin);
/* Every object matching the template. free() the array. */
int cli_find(struct cli *c, CK_SESSION_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG n,
		 CK_OBJECT_HANDLE **out, size_t *count);
/* One attribute, allocated with a NUL after it (free()). CKR_ATTRIBUTE_TYPE_INVALID
 * and CKR_ATTRIBUTE_SENSITIVE are returned, not reported. */
CK_RV cli_attr(struct cli *c, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type,
	       uint8_t **val, size_t *len);
CK_ULONG cli_attr_ulong(struct cli *c, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o,
			CK_ATTRIBUTE_TYPE type, CK_ULONG dflt);

/* The module's vendor function list (C_GetInterface "Vendor tpmha"); starts the module. */
int cli_vendor(struct cli *c, const TPMHA_FUNCTION_LIST **out);
/* "tpmha: the module's log (FILE) says more": after a failure it explains there. */
void cli_log_hint(struct cli *c);

/* ---- small helpers (p11.c) ---- */
/* Hex with optional ':' between bytes; CLI_OK or a usage error naming the option. */
int cli_hex_parse(const struct cli *c, const char *opt, const char *text, uint8_t *out, size_t max,
	      size_t *len);
/* Lower-case hex; out must hold 2 * n + 1 bytes. */
void cli_hex(char *out, const uint8_t *p, size_t n);
/* CKA_EC_PARAMS (DER namedCurve) ↔ "p256" / "p384"; NULL when not one we know. */
const char *cli_ec_name(const uint8_t *der, size_t len);
const uint8_t *cli_ec_params(const char *name, size_t *len);

/* ---- whole files (fileio.c) ---- */
/* The file into memory (a NUL after it; free with cli_file_free, which wipes it).
 * Messages name the option. An empty file is refused. */
int cli_file_read(const char *opt, const char *path, size_t max, uint8_t **data, size_t *len);
void cli_file_free(uint8_t *data, size_t len);
/* Written beside PATH and renamed over it: all or nothing. */
int cli_file_write(const char *opt, const char *path, const void *data, size_t len);
#define CLI_SMALL_FILE_MAX (64 * 1024)       /* domain, unit and approval files */
#define CLI_BUNDLE_MAX (16u * 1024 * 1024)  /* a bundle (migration/format.h: FORMAT_MAX_SIZE) */

/* ---- JSON output (json.c) ---- */
#define JW_MAX_DEPTH 16
struct jw {
	FILE *f;
	int depth;
	bool first[JW_MAX_DEPTH];  /* nothing written yet at this level */
	char closer[JW_MAX_DEPTH]; /* '}' or ']' */
};

void jw_start(struct jw *j, FILE *f);
void jw_finish(struct jw *j);                /* closes nothing; ends the line */
void jw_object(struct jw *j, const char *key); /* key NULL inside arrays and at top */
void jw_array(struct jw *j, const char *key);
void jw_end(struct jw *j);                   /* closes the innermost object/array */
void jw_string(struct jw *j, const char *key, const char *value); /* NULL → null */
void jw_uint(struct jw *j, const char *key, unsigned long long value);
void jw_bool(struct jw *j, const char *key, bool value);

/* ---- the commands at the top of the tree (each file exports its own) ---- */
extern const struct cli_cmd status_cmd; /* status.c */
extern const struct cli_cmd token_cmd;  /* token.c */
extern const struct cli_cmd pin_cmd;    /* token.c */
extern const struct cli_cmd key_cmd;    /* key.c */
extern const struct cli_cmd cert_cmd;   /* import.c */
extern const struct cli_cmd domain_cmd; /* domain.c */
extern const struct cli_cmd unit_cmd;   /* unit.c */
extern const struct cli_cmd approval_cmd; /* approval.c */
extern const struct cli_cmd replicate_cmd; /* replicate.c */
extern const struct cli_cmd receive_cmd;   /* receive.c */

int cmd_token_list(struct cli *c); /* status.c, in token.c's table */

/* ---- objects (key.c), shared by key and cert commands ---- */
#define ID_MAX 128
/* --id, if given (*len 0 if not). */
int cli_id_option(const struct cli *c, uint8_t id[ID_MAX], size_t *len);
/* No object of the class has this ID (if id_len) or this label (if label). */
int cli_name_unused(struct cli *c, CK_SESSION_HANDLE h, CK_OBJECT_CLASS klass, const uint8_t *id,
		size_t id_len, const char *label);
/* Destroy the objects of the classes that --id or --label names; with --label,
 * more than one object of classes[0] is refused as ambiguous. what: "key". */
int cli_delete(struct cli *c, const struct token_ref *t, CK_SESSION_HANDLE h,
		   const CK_OBJECT_CLASS *classes, size_t nclasses, const char *what);
const char *cli_class_name(CK_OBJECT_CLASS klass); /* "private key" */

/* ---- migration objects (unit.c), shared by unit, approval, replicate, status ---- */
struct unit_file;
/* The token's unit (CKO_TPMHA_UNIT) or approval (CKO_TPMHA_APPROVAL) object for this
 * file: the one there already (a unit by its id, an approval by its bytes), or a new
 * one (C_CreateObject, CKA_VALUE = the file). *added says which. */
int cli_migration_object(struct cli *c, CK_SESSION_HANDLE h, CK_OBJECT_CLASS klass, const uint8_t *file,
			 size_t len, CK_OBJECT_HANDLE *out, bool *added);
/* The label inside a unit file (strdup'ed), NULL if it has none or does not parse. */
char *cli_unit_label(const uint8_t *file, size_t len);
/* This unit's identity (TPMHA_GetUnitIdentity, no label), parsed. */
int cli_local_unit(struct cli *c, struct unit_file *out);

/* ---- migration files (domain.c) ---- */
struct domain_file;
/* Read and parse a domain / unit identity file given by option OPT (messages name it);
 * bytes (if not NULL) get the file itself (cli_file_free). */
int cli_domain_read(const char *opt, const char *path, struct domain_file *d, uint8_t **bytes, size_t *len);
int cli_unit_read(const char *opt, const char *path, struct unit_file *u, uint8_t **bytes, size_t *len);

/* ---- the migration authority (ma.c) ---- */
/* Where the MA key is: a PKCS#11 module and a URI, or (low assurance) a PEM file. */
#define OPT_MA \
	{ "ma-module", "PATH", "the PKCS#11 module holding the migration authority (MA) key" }, \
	{ "ma-key", "URI", "the MA's private key there, as a PKCS#11 URI (token, object, id, type)" }, \
	{ "ma-pin-file", "FILE", "read the MA token's user PIN (or the PEM pass phrase) from FILE" }, \
	{ "ma-pin-env", "VAR", "read the MA token's user PIN (or the PEM pass phrase) from VAR" }, \
	{ "ma-key-file", "FILE", "low assurance: the MA's private key in a PEM file on this machine" }

struct ma;
/* Open the MA key the options name and log in (the PIN from --ma-pin-file, --ma-pin-env
 * or the terminal); its public key must be RSA-2048 or EC P-256. */
int ma_open(struct cli *c, struct ma **out);
/* DER SubjectPublicKeyInfo (owned by m). */
const uint8_t *ma_spki(const struct ma *m, size_t *len);
const char *ma_describe(const struct ma *m); /* "RSA-2048 key pkcs11:... in MODULE" */
/* The MA's signature over msg with hash, in the form docs/formats.md gives: RSA
 * PKCS#1 v1.5 (256 bytes), ECDSA r || s (64 bytes). Checked against the public key. */
int ma_sign(struct cli *c, struct ma *m, const uint8_t *msg, size_t len, enum hash_alg hash, uint8_t *sig,
	    size_t *sig_len);
void ma_close(struct ma *m); /* NULL fine */

#endif
