/* Several processes on one token through a resource manager (multiproc.sh puts
 * tpm2-abrmd in front of the TPM). Every process is forked before anyone calls
 * C_Initialize, so each is an independent application.
 *
 * Part 1, two processes in turn (A = this one, B = a child): what one does, the
 * other sees at its next call, without re-initializing: a new token, new objects
 * and keys (and signs with them), changed labels, destroyed objects, a changed PIN.
 * Part 2: four processes and this one sign and create objects at once: no error. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "p11t.h"

#define WORKERS 4
#define WORK_ROUNDS 20
#define NEW_PIN "changed-by-A-77"

struct child {
	pid_t pid;
	int tap;        /* its TAP, read by us */
	int to_child;   /* one byte per step */
	int from_child;
};

static struct child partner, workers[WORKERS];
static int my_in = -1, my_out = -1; /* in a child: its end of the step pipes */

static void step_send(int fd)
{
	char c = '.';
	if (write(fd, &c, 1) != 1)
		t_bail("step pipe closed");
}

static void step_wait(int fd)
{
	char c;
	if (read(fd, &c, 1) != 1)
		t_bail("the other process is gone");
}

static void spawn(struct child *c, void (*body)(int index), int index)
{
	int tap[2], down[2], up[2];

	if (pipe(tap) || pipe(down) || pipe(up))
		t_bail("pipe");
	fflush(stdout);
	c->pid = fork();
	if (c->pid < 0)
		t_bail("fork");
	if (c->pid == 0) {
		close(tap[0]);
		close(down[1]);
		close(up[0]);
		dup2(tap[1], 1);
		close(tap[1]);
		my_in = down[0];
		my_out = up[1];
		t_reset();
		body(index);
		t_done();
		fflush(stdout);
		_exit(0);
	}
	close(tap[1]);
	close(down[0]);
	close(up[1]);
	c->tap = tap[0];
	c->to_child = down[1];
	c->from_child = up[0];
}

static void reap(struct child *c, const char *prefix)
{
	FILE *in = fdopen(c->tap, "r");
	int status = 0;

	t_relay(in, prefix);
	fclose(in);
	close(c->to_child);
	close(c->from_child);
	waitpid(c->pid, &status, 0);
	t_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%sexited normally (status 0x%x)", prefix, status);
}

static CK_ULONG slot_count(void)
{
	CK_ULONG n = 0;
	MUST(F->C_GetSlotList(CK_TRUE, NULL, &n));
	return n;
}

static bool signs_with(CK_SESSION_HANDLE h, const char *label)
{
	CK_OBJECT_HANDLE priv = p11t_find_label(h, CKO_PRIVATE_KEY, label);
	CK_OBJECT_HANDLE pub = p11t_find_label(h, CKO_PUBLIC_KEY, label);
	CK_MECHANISM_TYPE mech = p11t_attr_ulong(h, pub, CKA_KEY_TYPE) == CKK_RSA ? CKM_SHA256_RSA_PKCS : CKM_ECDSA_SHA256;
	CK_MECHANISM m = { mech, NULL, 0 };
	EVP_PKEY *k = priv && pub ? p11t_evp_public(h, pub) : NULL;
	uint8_t sig[512];
	CK_ULONG len = sizeof(sig);
	bool ok = k && p11t_sign(h, &m, priv, (const uint8_t *)label, strlen(label), sig, &len) == CKR_OK &&
		  p11t_ossl_verify(k, mech, NULL, (const uint8_t *)label, strlen(label), sig, len);

	EVP_PKEY_free(k);
	return ok;
}

/* ---- part 1: B ---- */

static void partner_body(int index)
{
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE h;
	CK_OBJECT_HANDLE from_b, pub, priv, lab_h;
	CK_ATTRIBUTE lab[] = { { CKA_LABEL, NULL, 0 } };

	(void)index;
	step_wait(my_in); /* A made the token */
	t_rv(p11t_init(), CKR_OK, "C_Initialize");
	slot = p11t_slot_by_label("multi");
	h = p11t_open(slot, true);
	t_rv(F->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, strlen(USER_PIN)), CKR_OK, "C_Login with the PIN A set");
	t_ok(p11t_find_label(h, CKO_DATA, "from A") != CK_INVALID_HANDLE, "A's object is found");
	t_ok(signs_with(h, "key A"), "A's key signs here");
	MUST(p11t_data(h, "from B", true, false, &from_b));
	MUST(p11t_gen_ec(h, p11t_p384, sizeof(p11t_p384), "key B", &pub, &priv));
	step_send(my_out);

	step_wait(my_in); /* A renamed "from A", destroyed "from B", made "later from A" */
	t_ok(p11t_find_label(h, CKO_DATA, "later from A") != CK_INVALID_HANDLE,
	     "an object A made after we last looked is found by the next C_FindObjects");
	t_ok(p11t_find_label(h, CKO_DATA, "from A, renamed") != CK_INVALID_HANDLE, "A's rename is seen");
	t_ok(p11t_find_label(h, CKO_DATA, "from A") == CK_INVALID_HANDLE, "... the old label is gone");
	t_ok(p11t_find_label(h, CKO_DATA, "from B") == CK_INVALID_HANDLE, "the object A destroyed is not found");
	t_rv(F->C_GetAttributeValue(h, from_b, lab, 1), CKR_OBJECT_HANDLE_INVALID, "... and its handle is invalid");
	lab_h = p11t_find_label(h, CKO_DATA, "later from A");
	t_rv(F->C_GetAttributeValue(h, lab_h, lab, 1), CKR_OK, "A's new object reads");
	step_send(my_out);

	step_wait(my_in); /* A changed the label of "later from A" without us looking */
	{
		char buf[64];
		CK_ATTRIBUTE l[] = { { CKA_LABEL, buf, sizeof(buf) } };
		t_rv(F->C_GetAttributeValue(h, lab_h, l, 1), CKR_OK, "C_GetAttributeValue after A's C_SetAttributeValue");
		t_ok(l[0].ulValueLen == 17 && memcmp(buf, "changed elsewhere", 17) == 0,
		     "... gives the new value (no C_FindObjects in between)");
	}
	step_send(my_out);

	step_wait(my_in); /* A changed the user PIN */
	MUST(F->C_Logout(h));
	t_rv(F->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)NEW_PIN, strlen(NEW_PIN)), CKR_OK,
	     "C_Login with the PIN A has just set (no C_GetSlotList or C_FindObjects in between)");
	step_send(my_out);

	step_wait(my_in); /* A made a second token */
	t_eq(slot_count(), 3, "A's second token has a slot here too");
	MUST(F->C_Finalize(NULL));
}

static void part1(void)
{
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE h;
	CK_OBJECT_HANDLE obj, later, pub, priv;

	MUST(p11t_init());
	slot = p11t_new_token("multi", SO_PIN, USER_PIN);
	h = p11t_open(slot, true);
	p11t_login(h, CKU_USER, USER_PIN);
	MUST(p11t_data(h, "from A", true, false, &obj));
	MUST(p11t_gen_rsa(h, 2048, "key A", &pub, &priv));
	step_send(partner.to_child);

	step_wait(partner.from_child); /* B made "from B" and "key B" */
	t_ok(p11t_find_label(h, CKO_DATA, "from B") != CK_INVALID_HANDLE, "B's object is found without re-initializing");
	t_ok(signs_with(h, "key B"), "B's key signs here");
	{
		CK_ATTRIBUTE l[] = { { CKA_LABEL, "from A, renamed", 15 } };
		MUST(F->C_SetAttributeValue(h, obj, l, 1));
	}
	MUST(F->C_DestroyObject(h, p11t_find_label(h, CKO_DATA, "from B")));
	MUST(p11t_data(h, "later from A", true, false, &later));
	step_send(partner.to_child);

	step_wait(partner.from_child);
	{
		CK_ATTRIBUTE l[] = { { CKA_LABEL, "changed elsewhere", 17 } };
		MUST(F->C_SetAttributeValue(h, later, l, 1));
	}
	step_send(partner.to_child);

	step_wait(partner.from_child);
	MUST(F->C_SetPIN(h, (CK_UTF8CHAR_PTR)USER_PIN, strlen(USER_PIN), (CK_UTF8CHAR_PTR)NEW_PIN, strlen(NEW_PIN)));
	step_send(partner.to_child);

	step_wait(partner.from_child);
	p11t_new_token("multi-2", SO_PIN, USER_PIN);
	step_send(partner.to_child);
	reap(&partner, "process B: ");
	MUST(F->C_SetPIN(h, (CK_UTF8CHAR_PTR)NEW_PIN, strlen(NEW_PIN), (CK_UTF8CHAR_PTR)USER_PIN, strlen(USER_PIN)));
	MUST(F->C_Finalize(NULL));
}

/* ---- part 2: four at once ---- */

static void worker_body(int index)
{
	CK_SESSION_HANDLE h;
	int errors = 0, made = 0;
	CK_RV first = CKR_OK;

#define NOTE(rv_expr)                                   \
	do {                                            \
		CK_RV note_rv_ = (rv_expr);             \
		if (note_rv_ != CKR_OK && !errors++)    \
			first = note_rv_;               \
	} while (0)
	step_wait(my_in);
	NOTE(p11t_init());
	if (errors) {
		t_ok(false, "C_Initialize: %s", ckr(first));
		return;
	}
	h = p11t_open(p11t_slot_by_label("multi"), true);
	NOTE(F->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, strlen(USER_PIN)));
	for (int r = 0; r < WORK_ROUNDS; r++) {
		char label[32];
		CK_OBJECT_HANDLE o;
		if (!signs_with(h, r % 2 ? "shared rsa" : "shared ec"))
			NOTE(CKR_SIGNATURE_INVALID);
		snprintf(label, sizeof(label), "w%d-%d", index, r);
		NOTE(p11t_data(h, label, true, r % 3 == 0, &o));
		if (p11t_find_label(h, CKO_DATA, label) != o)
			NOTE(CKR_GENERAL_ERROR);
		else
			made++;
		if (r % 5 == 4) {
			NOTE(F->C_DestroyObject(h, o));
			made--;
		}
	}
	NOTE(F->C_Finalize(NULL));
	t_ok(errors == 0, "%d rounds of sign, create, find (%d errors%s%s)", WORK_ROUNDS, errors,
	     errors ? ", first " : "", errors ? ckr(first) : "");
	t_eq((unsigned long)made, WORK_ROUNDS - WORK_ROUNDS / 5, "its objects are there");
#undef NOTE
}

static void part2(void)
{
	CK_SESSION_HANDLE h;
	CK_OBJECT_HANDLE pub, priv, o;
	int errors = 0;
	char label[32];

	MUST(p11t_init());
	h = p11t_open(p11t_slot_by_label("multi"), true);
	p11t_login(h, CKU_USER, USER_PIN);
	MUST(p11t_gen_ec(h, p11t_p256, sizeof(p11t_p256), "shared ec", &pub, &priv));
	MUST(p11t_gen_rsa(h, 2048, "shared rsa", &pub, &priv));
	for (int i = 0; i < WORKERS; i++)
		step_send(workers[i].to_child);
	/* and this process works along */
	for (int r = 0; r < WORK_ROUNDS; r++) {
		errors += !signs_with(h, r % 2 ? "shared ec" : "shared rsa");
		snprintf(label, sizeof(label), "w0-%d", r);
		errors += p11t_data(h, label, true, false, &o) != CKR_OK;
	}
	t_eq((unsigned long)errors, 0, "this process worked along: no error");
	for (int i = 0; i < WORKERS; i++) {
		snprintf(label, sizeof(label), "worker %d: ", i + 1);
		reap(&workers[i], label);
	}
	{
		CK_OBJECT_CLASS d = CKO_DATA;
		CK_ATTRIBUTE t[] = { { CKA_CLASS, &d, sizeof(d) } };
		static CK_OBJECT_HANDLE found[512];
		CK_ULONG n = p11t_find(h, t, 1, found, 512), expect = WORK_ROUNDS + WORKERS * (WORK_ROUNDS - WORK_ROUNDS / 5) + 2;
		t_eq(n, expect, "every object made by the five processes is there, once");
	}
	MUST(F->C_Finalize(NULL));
}

int main(void)
{
	p11t_load();
	/* Every process now, before anyone initializes: each is an application of its
	 * own (and none inherits a resource manager connection). */
	spawn(&partner, partner_body, 0);
	for (int i = 0; i < WORKERS; i++)
		spawn(&workers[i], worker_body, i + 1);
	part1();
	part2();
	return t_done();
}
