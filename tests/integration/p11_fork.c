/* fork() (PKCS#11 v2.40 §6.7.1 and the Robustness list): the child of an
 * initialized parent gets CKR_CRYPTOKI_NOT_INITIALIZED from everything until it
 * calls C_Initialize itself; nothing the child does (every call, C_Initialize and
 * work of its own, exiting with or without C_Finalize, dying mid-operation) disturbs
 * the parent's TPM connection, sessions or login, while the parent keeps signing.
 *
 *   p11_fork abrmd    the TPM behind tpm2-abrmd: the child may use it too
 *   p11_fork direct   the direct swtpm TCTI, which serves one connection: the child
 *                     only checks it is uninitialized and exits */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "p11t.h"

static CK_SLOT_ID slot;
static CK_SESSION_HANDLE h;
static CK_OBJECT_HANDLE pub, priv;
static EVP_PKEY *evp;

static bool sign_once(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key, EVP_PKEY *k, int n)
{
	CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 };
	uint8_t data[32], sig[96];
	CK_ULONG sig_len = sizeof(sig);

	snprintf((char *)data, sizeof(data), "signature %d", n);
	return p11t_sign(s, &m, key, data, sizeof(data), sig, &sig_len) == CKR_OK &&
	       p11t_ossl_verify(k, CKM_ECDSA_SHA256, NULL, data, sizeof(data), sig, sig_len);
}

/* The parent's state is intact: session, login, key, objects. */
static void parent_intact(const char *when)
{
	CK_SESSION_INFO si;
	CK_OBJECT_HANDLE o;
	int bad = 0;

	t_rv(F->C_GetSessionInfo(h, &si), CKR_OK, "%s: the parent's session is still there", when);
	t_eq(si.state, CKS_RW_USER_FUNCTIONS, "%s: still logged in", when);
	for (int i = 0; i < 5; i++)
		bad += !sign_once(h, priv, evp, i);
	t_eq((unsigned long)bad, 0, "%s: the parent signs", when);
	t_ok(p11t_find_label(h, CKO_PRIVATE_KEY, "fork key") == priv, "%s: the parent finds its key", when);
	t_rv(p11t_data(h, "parent object", false, false, &o), CKR_OK, "%s: the parent makes an object", when);
	MUST(F->C_DestroyObject(h, o));
}

enum child_kind {
	CHILD_CHECK_ONLY,     /* every function uninitialized, then exit() */
	CHILD_OWN_INIT,       /* then its own C_Initialize, login, signing, C_Finalize */
	CHILD_DIES_MID_WORK,  /* its own C_Initialize, a C_SignInit, then _exit() */
	CHILD_SILENT_EXIT,    /* exit() at once */
};

static void child_body(enum child_kind kind)
{
	CK_SESSION_HANDLE s;
	CK_SESSION_INFO si;
	CK_OBJECT_HANDLE k;
	int bad = 0;

	if (kind == CHILD_SILENT_EXIT)
		return;
	if (kind == CHILD_CHECK_ONLY || kind == CHILD_OWN_INIT)
		p11t_all_uninitialized("before C_Initialize", slot, h, priv);
	else
		t_rv(F->C_GetSlotList(CK_TRUE, NULL, &si.slotID), CKR_CRYPTOKI_NOT_INITIALIZED,
		     "C_GetSlotList before C_Initialize");
	if (kind == CHILD_CHECK_ONLY)
		return;
	if (!t_rv(p11t_init(), CKR_OK, "C_Initialize"))
		return;
	t_rv(F->C_GetSessionInfo(h, &si), CKR_SESSION_HANDLE_INVALID, "the parent's session handle means nothing here");
	s = p11t_open(slot, false);
	MUST(F->C_GetSessionInfo(s, &si));
	t_eq(si.state, CKS_RO_PUBLIC_SESSION, "a new session: the parent's login is not inherited");
	t_ok(p11t_find_label(s, CKO_PRIVATE_KEY, "fork key") == CK_INVALID_HANDLE, "the private key is hidden");
	p11t_login(s, CKU_USER, USER_PIN);
	k = p11t_find_label(s, CKO_PRIVATE_KEY, "fork key");
	t_ok(k != CK_INVALID_HANDLE, "after C_Login the key is found");
	if (kind == CHILD_DIES_MID_WORK) {
		CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 };
		t_rv(F->C_SignInit(s, &m, k), CKR_OK, "C_SignInit, then die");
		t_done();
		fflush(stdout);
		_exit(0);
	}
	for (int i = 0; i < 10; i++)
		bad += !sign_once(s, k, evp, 100 + i);
	t_eq((unsigned long)bad, 0, "the child signs 10 times with its own connection");
	t_rv(F->C_Finalize(NULL), CKR_OK, "C_Finalize");
}

/* Fork a child of this kind; the parent signs meanwhile; then the child's TAP. */
static void with_child(enum child_kind kind, const char *name)
{
	int fds[2], status = 0, bad = 0;
	char prefix[64];
	pid_t pid;
	FILE *in;

	snprintf(prefix, sizeof(prefix), "%s: ", name);
	if (pipe(fds) != 0)
		t_bail("pipe");
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		t_bail("fork");
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], 1);
		close(fds[1]);
		t_reset();
		child_body(kind);
		t_done();
		fflush(stdout);
		exit(0); /* atexit handlers and all: they must not touch the parent's TPM */
	}
	close(fds[1]);
	for (int i = 0; i < 20; i++)
		bad += !sign_once(h, priv, evp, i);
	t_eq((unsigned long)bad, 0, "%sthe parent signed 20 times while the child ran", prefix);
	in = fdopen(fds[0], "r");
	if (kind != CHILD_SILENT_EXIT)
		t_relay(in, prefix);
	fclose(in);
	waitpid(pid, &status, 0);
	t_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%sthe child exited normally (status 0x%x)", prefix, status);
	parent_intact(name);
}

int main(int argc, char **argv)
{
	bool abrmd = argc > 1 && strcmp(argv[1], "abrmd") == 0;

	p11t_load();
	MUST(p11t_init());
	slot = p11t_new_token("fork", SO_PIN, USER_PIN);
	h = p11t_open(slot, true);
	p11t_login(h, CKU_USER, USER_PIN);
	MUST(p11t_gen_ec(h, p11t_p256, sizeof(p11t_p256), "fork key", &pub, &priv));
	evp = p11t_evp_public(h, pub);
	parent_intact("before fork");

	with_child(CHILD_CHECK_ONLY, "child calling everything");
	with_child(CHILD_SILENT_EXIT, "child exiting at once");
	if (abrmd) {
		with_child(CHILD_OWN_INIT, "child with its own C_Initialize");
		with_child(CHILD_DIES_MID_WORK, "child dying mid-operation");
		/* again: children may come and go */
		with_child(CHILD_OWN_INIT, "second child with its own C_Initialize");
	} else {
		t_skip("the direct swtpm TCTI serves one connection", "children with their own C_Initialize (see fork.sh)");
	}
	/* the parent can still finalize and start again */
	t_rv(F->C_Finalize(NULL), CKR_OK, "the parent's C_Finalize");
	t_rv(p11t_init(), CKR_OK, "and C_Initialize again");
	h = p11t_open(slot, true);
	p11t_login(h, CKU_USER, USER_PIN);
	priv = p11t_find_label(h, CKO_PRIVATE_KEY, "fork key");
	t_ok(sign_once(h, priv, evp, 999), "and signs");
	MUST(F->C_Finalize(NULL));
	EVP_PKEY_free(evp);
	return t_done();
}
