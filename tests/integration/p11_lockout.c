/* PINs are checked by the TPM's dictionary-attack protection: wrong PINs count
 * (CKF_USER_PIN_COUNT_LOW, CKF_USER_PIN_FINAL_TRY), the limit locks the TPM out
 * (CKR_PIN_LOCKED, CKF_USER_PIN_LOCKED) even for the right PIN, and the flags follow
 * the TPM when it is reset or heals. lockout.sh sets the limit to 3 on a TPM of its
 * own; the TPM is reset with tpm2_dictionarylockout between C_Finalize and
 * C_Initialize, as the module holds the direct swtpm connection otherwise. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p11t.h"

#define PIN_FLAGS (CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED)
#define SO_FLAGS (CKF_SO_PIN_COUNT_LOW | CKF_SO_PIN_FINAL_TRY | CKF_SO_PIN_LOCKED)

static CK_FLAGS flags(CK_SLOT_ID slot)
{
	CK_TOKEN_INFO info;

	MUST(F->C_GetTokenInfo(slot, &info));
	return info.flags;
}

static CK_RV login(CK_SESSION_HANDLE h, CK_USER_TYPE who, const char *pin)
{
	return F->C_Login(h, who, (CK_UTF8CHAR_PTR)pin, strlen(pin));
}

int main(void)
{
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE h;
	CK_UTF8CHAR label[32];

	p11t_load();
	MUST(p11t_init());
	slot = p11t_new_token("lockout", SO_PIN, USER_PIN);
	h = p11t_open(slot, true);
	t_eq(flags(slot) & (PIN_FLAGS | SO_FLAGS), 0, "no wrong PIN yet: no counter flag");

	/* a PIN of a length never accepted is refused without costing a try */
	t_rv(login(h, CKU_USER, "12"), CKR_PIN_INCORRECT, "C_Login with a 2-byte PIN");
	t_eq(flags(slot) & PIN_FLAGS, 0, "... did not count");

	t_rv(login(h, CKU_USER, "wrong-pin-1"), CKR_PIN_INCORRECT, "wrong PIN 1 of 3");
	t_eq(flags(slot) & PIN_FLAGS, CKF_USER_PIN_COUNT_LOW, "CKF_USER_PIN_COUNT_LOW");
	t_eq(flags(slot) & SO_FLAGS, CKF_SO_PIN_COUNT_LOW, "the TPM counts for the SO PIN too");
	t_rv(login(h, CKU_SO, "wrong-so-pin"), CKR_PIN_INCORRECT, "wrong SO PIN: 2 of 3");
	t_eq(flags(slot) & PIN_FLAGS, CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY, "CKF_USER_PIN_FINAL_TRY");
	t_rv(login(h, CKU_USER, "wrong-pin-3"), CKR_PIN_INCORRECT, "wrong PIN 3 of 3");
	t_ok(flags(slot) & CKF_USER_PIN_LOCKED, "CKF_USER_PIN_LOCKED");
	t_ok(flags(slot) & CKF_SO_PIN_LOCKED, "CKF_SO_PIN_LOCKED");
	t_rv(login(h, CKU_USER, USER_PIN), CKR_PIN_LOCKED, "the right user PIN: CKR_PIN_LOCKED");
	t_rv(login(h, CKU_SO, SO_PIN), CKR_PIN_LOCKED, "the right SO PIN: CKR_PIN_LOCKED");
	t_rv(login(h, CKU_USER, "wrong-pin-4"), CKR_PIN_LOCKED, "a wrong one: CKR_PIN_LOCKED");
	t_rv(F->C_SetPIN(h, (CK_UTF8CHAR_PTR)USER_PIN, strlen(USER_PIN), (CK_UTF8CHAR_PTR)"another-pin", 11),
	     CKR_PIN_LOCKED, "C_SetPIN: CKR_PIN_LOCKED");
	{
		CK_SESSION_INFO si;
		MUST(F->C_GetSessionInfo(h, &si));
		t_eq(si.state, CKS_RW_PUBLIC_SESSION, "nobody got in");
	}
	MUST(F->C_CloseSession(h));
	p11t_label(label, "lockout");
	t_rv(F->C_InitToken(slot, (CK_UTF8CHAR_PTR)SO_PIN, strlen(SO_PIN), label), CKR_PIN_LOCKED,
	     "C_InitToken (re-initialization): CKR_PIN_LOCKED");
	MUST(F->C_Finalize(NULL));

	/* the administrator resets the TPM's lockout */
	t_eq(p11t_system("tpm2_dictionarylockout -c >/dev/null 2>&1"), 0, "tpm2_dictionarylockout --clear-lockout");
	MUST(p11t_init());
	t_eq(flags(slot) & (PIN_FLAGS | SO_FLAGS), 0, "after the reset: no counter flag");
	h = p11t_open(slot, true);
	t_rv(login(h, CKU_USER, USER_PIN), CKR_OK, "the user logs in");
	{
		CK_OBJECT_HANDLE pub, priv;
		t_rv(p11t_gen_ec(h, p11t_p256, sizeof(p11t_p256), "after lockout", &pub, &priv), CKR_OK, "and makes a key");
	}
	MUST(F->C_Logout(h));
	MUST(F->C_CloseSession(h));
	MUST(F->C_Finalize(NULL));

	/* the TPM heals with time: one failure forgotten per recovery interval */
	t_eq(p11t_system("tpm2_dictionarylockout -s -n 3 -t 2 -l 1 >/dev/null 2>&1"), 0, "recovery interval 2 s");
	MUST(p11t_init());
	h = p11t_open(slot, false);
	t_rv(login(h, CKU_USER, "wrong-again"), CKR_PIN_INCORRECT, "a wrong PIN");
	t_ok(flags(slot) & CKF_USER_PIN_COUNT_LOW, "CKF_USER_PIN_COUNT_LOW");
	sleep(5);
	t_eq(flags(slot) & PIN_FLAGS, 0, "5 s later the TPM forgot it, and so do the flags");
	MUST(F->C_Finalize(NULL));
	return t_done();
}
