/* Slots, tokens, sessions, login and PINs (PKCS#11 v2.40 §5.5, §5.6, §5.7 and the
 * session state rules of §5.6 table 5): one slot per token plus the free slot,
 * truthful CK_SLOT_INFO/CK_TOKEN_INFO, RO/RW and SO/user rules, login shared by the
 * application's sessions, PIN changes, re-initialization. The TPM's DA limit is set
 * high by session.sh, so the wrong PINs here count without locking it out. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11t.h"

#define RO false
#define RW true

static CK_STATE state_of(CK_SESSION_HANDLE h)
{
	CK_SESSION_INFO si;

	if (F->C_GetSessionInfo(h, &si) != CKR_OK)
		return (CK_STATE)-1;
	return si.state;
}

static CK_FLAGS token_flags(CK_SLOT_ID slot)
{
	CK_TOKEN_INFO info;

	MUST(F->C_GetTokenInfo(slot, &info));
	return info.flags;
}

static CK_RV login(CK_SESSION_HANDLE h, CK_USER_TYPE who, const char *pin)
{
	return F->C_Login(h, who, (CK_UTF8CHAR_PTR)pin, strlen(pin));
}

static CK_ULONG slot_count(void)
{
	CK_ULONG n = 0;

	MUST(F->C_GetSlotList(CK_FALSE, NULL, &n));
	return n;
}

static void test_slots(CK_SLOT_ID *free_slot)
{
	CK_SLOT_ID slots[4];
	CK_ULONG n = 0;
	CK_SLOT_INFO si;
	CK_TOKEN_INFO ti;

	t_rv(F->C_GetSlotList(CK_TRUE, NULL, NULL), CKR_ARGUMENTS_BAD, "C_GetSlotList(count NULL)");
	t_rv(F->C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK, "C_GetSlotList(NULL list)");
	t_eq(n, 1, "a fresh store has one slot: the free one");
	n = 0;
	t_rv(F->C_GetSlotList(CK_TRUE, slots, &n), CKR_BUFFER_TOO_SMALL, "C_GetSlotList into no room");
	t_eq(n, 1, "... says how many");
	n = 4;
	t_rv(F->C_GetSlotList(CK_FALSE, slots, &n), CKR_OK, "C_GetSlotList(tokenPresent FALSE)");
	*free_slot = slots[0];

	t_rv(F->C_GetSlotInfo(*free_slot, NULL), CKR_ARGUMENTS_BAD, "C_GetSlotInfo(NULL)");
	t_rv(F->C_GetSlotInfo(4242, &si), CKR_SLOT_ID_INVALID, "C_GetSlotInfo(unknown slot)");
	t_rv(F->C_GetSlotInfo(*free_slot, &si), CKR_OK, "C_GetSlotInfo(free slot)");
	t_ok(si.flags & CKF_TOKEN_PRESENT, "the free slot holds a token");
	t_ok(!(si.flags & CKF_REMOVABLE_DEVICE), "not removable");
	t_ok(memchr(si.slotDescription, 0, sizeof(si.slotDescription)) == NULL, "slotDescription blank padded");
	t_rv(F->C_GetTokenInfo(*free_slot, NULL), CKR_ARGUMENTS_BAD, "C_GetTokenInfo(NULL)");
	t_rv(F->C_GetTokenInfo(4242, &ti), CKR_SLOT_ID_INVALID, "C_GetTokenInfo(unknown slot)");
	t_rv(F->C_GetTokenInfo(*free_slot, &ti), CKR_OK, "C_GetTokenInfo(free slot)");
	t_ok(!(ti.flags & CKF_TOKEN_INITIALIZED), "the free slot's token is not initialized");
	t_ok(!(ti.flags & CKF_USER_PIN_INITIALIZED), "... nor its user PIN");
	{
		CK_SESSION_HANDLE h;
		t_rv(F->C_OpenSession(*free_slot, CKF_SERIAL_SESSION, NULL, NULL, &h), CKR_TOKEN_NOT_RECOGNIZED,
		     "C_OpenSession on the uninitialized token");
	}
	{
		CK_ULONG m = 0;
		CK_MECHANISM_INFO mi;
		t_rv(F->C_GetMechanismList(4242, NULL, &m), CKR_SLOT_ID_INVALID, "C_GetMechanismList(unknown slot)");
		t_rv(F->C_GetMechanismList(*free_slot, NULL, NULL), CKR_ARGUMENTS_BAD, "C_GetMechanismList(count NULL)");
		t_rv(F->C_GetMechanismInfo(4242, CKM_SHA256, &mi), CKR_SLOT_ID_INVALID, "C_GetMechanismInfo(unknown slot)");
		t_rv(F->C_GetMechanismInfo(*free_slot, CKM_SHA256, NULL), CKR_ARGUMENTS_BAD, "C_GetMechanismInfo(NULL)");
		t_rv(F->C_GetMechanismInfo(*free_slot, CKM_MD5, &mi), CKR_MECHANISM_INVALID, "C_GetMechanismInfo(CKM_MD5)");
	}
	{
		CK_SLOT_ID ev;
		int reserved;
		t_rv(F->C_WaitForSlotEvent(CKF_DONT_BLOCK, &ev, NULL), CKR_NO_EVENT, "C_WaitForSlotEvent(DONT_BLOCK)");
		t_rv(F->C_WaitForSlotEvent(CKF_DONT_BLOCK, NULL, NULL), CKR_ARGUMENTS_BAD, "C_WaitForSlotEvent(NULL slot)");
		t_rv(F->C_WaitForSlotEvent(CKF_DONT_BLOCK, &ev, &reserved), CKR_ARGUMENTS_BAD,
		     "C_WaitForSlotEvent(pReserved set)");
	}
}

static CK_SLOT_ID test_init_token(CK_SLOT_ID free_slot)
{
	CK_UTF8CHAR label[32];
	CK_SLOT_ID slots[8], slot = CK_UNAVAILABLE_INFORMATION;
	CK_ULONG n = 8;
	CK_TOKEN_INFO ti;
	char pin129[130];

	memset(pin129, '7', 129);
	pin129[129] = 0;
	p11t_label(label, "session test");
	t_rv(F->C_InitToken(free_slot, NULL, 8, label), CKR_ARGUMENTS_BAD, "C_InitToken(NULL PIN)");
	t_rv(F->C_InitToken(free_slot, (CK_UTF8CHAR_PTR)SO_PIN, strlen(SO_PIN), NULL), CKR_ARGUMENTS_BAD,
	     "C_InitToken(NULL label)");
	t_rv(F->C_InitToken(free_slot, (CK_UTF8CHAR_PTR)"123", 3, label), CKR_PIN_LEN_RANGE, "C_InitToken(3-byte PIN)");
	t_rv(F->C_InitToken(free_slot, (CK_UTF8CHAR_PTR)pin129, 129, label), CKR_PIN_LEN_RANGE,
	     "C_InitToken(129-byte PIN)");
	t_rv(F->C_InitToken(4242, (CK_UTF8CHAR_PTR)SO_PIN, strlen(SO_PIN), label), CKR_SLOT_ID_INVALID,
	     "C_InitToken(unknown slot)");
	t_eq(slot_count(), 1, "no token was made by the failures");
	t_rv(F->C_InitToken(free_slot, (CK_UTF8CHAR_PTR)SO_PIN, strlen(SO_PIN), label), CKR_OK, "C_InitToken");
	MUST(F->C_GetSlotList(CK_TRUE, slots, &n));
	t_eq(n, 2, "one slot per token plus the free slot");
	for (CK_ULONG i = 0; i < n; i++)
		if (F->C_GetTokenInfo(slots[i], &ti) == CKR_OK && (ti.flags & CKF_TOKEN_INITIALIZED))
			slot = slots[i];
	t_ok(slot != CK_UNAVAILABLE_INFORMATION, "the new token has a slot");
	if (slot == CK_UNAVAILABLE_INFORMATION)
		t_bail("no token");
	t_ok(slots[n - 1] != slot, "the free slot is listed last");
	MUST(F->C_GetTokenInfo(slot, &ti));
	t_ok(memcmp(ti.label, label, 32) == 0, "the label is the one given");
	t_ok(memcmp(ti.manufacturerID, "tpmha", 5) == 0, "manufacturerID");
	{
		bool hex = true;
		for (int i = 0; i < 16; i++)
			hex = hex && strchr("0123456789abcdefABCDEF", ti.serialNumber[i]) && ti.serialNumber[i];
		t_ok(hex, "a 16-character serial of its own");
	}
	t_eq(ti.flags & (CKF_RNG | CKF_LOGIN_REQUIRED | CKF_TOKEN_INITIALIZED | CKF_USER_PIN_INITIALIZED |
			 CKF_WRITE_PROTECTED),
	     CKF_RNG | CKF_LOGIN_REQUIRED | CKF_TOKEN_INITIALIZED, "flags: RNG, LOGIN_REQUIRED, TOKEN_INITIALIZED");
	t_eq(ti.ulSessionCount, 0, "no sessions");
	t_eq(ti.ulMinPinLen, 4, "ulMinPinLen");
	t_eq(ti.ulMaxPinLen, 128, "ulMaxPinLen");
	t_ok(ti.ulMaxSessionCount == CK_EFFECTIVELY_INFINITE || ti.ulMaxSessionCount > 100, "ulMaxSessionCount");
	return slot;
}

static void test_sessions(CK_SLOT_ID slot)
{
	CK_SESSION_HANDLE ro, rw, h;
	CK_SESSION_INFO si;
	CK_TOKEN_INFO ti;

	t_rv(F->C_OpenSession(slot, 0, NULL, NULL, &h), CKR_SESSION_PARALLEL_NOT_SUPPORTED,
	     "C_OpenSession without CKF_SERIAL_SESSION");
	t_rv(F->C_OpenSession(slot, CKF_RW_SESSION, NULL, NULL, &h), CKR_SESSION_PARALLEL_NOT_SUPPORTED,
	     "C_OpenSession(RW only)");
	t_rv(F->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, NULL), CKR_ARGUMENTS_BAD, "C_OpenSession(NULL)");
	t_rv(F->C_OpenSession(4242, CKF_SERIAL_SESSION, NULL, NULL, &h), CKR_SLOT_ID_INVALID,
	     "C_OpenSession(unknown slot)");
	t_rv(F->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &ro), CKR_OK, "C_OpenSession(RO)");
	t_rv(F->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &rw), CKR_OK, "C_OpenSession(RW)");
	t_ok(ro != CK_INVALID_HANDLE && rw != CK_INVALID_HANDLE && ro != rw, "two distinct valid handles");
	t_rv(F->C_GetSessionInfo(ro, NULL), CKR_ARGUMENTS_BAD, "C_GetSessionInfo(NULL)");
	t_rv(F->C_GetSessionInfo(ro, &si), CKR_OK, "C_GetSessionInfo(RO)");
	t_eq(si.slotID, slot, "... its slot");
	t_eq(si.state, CKS_RO_PUBLIC_SESSION, "... CKS_RO_PUBLIC_SESSION");
	t_eq(si.flags, CKF_SERIAL_SESSION, "... flags SERIAL");
	t_eq(state_of(rw), CKS_RW_PUBLIC_SESSION, "RW session: CKS_RW_PUBLIC_SESSION");
	MUST(F->C_GetTokenInfo(slot, &ti));
	t_eq(ti.ulSessionCount, 2, "ulSessionCount 2");
	t_eq(ti.ulRwSessionCount, 1, "ulRwSessionCount 1");
	t_rv(F->C_GetSessionInfo(CK_INVALID_HANDLE, &si), CKR_SESSION_HANDLE_INVALID, "C_GetSessionInfo(handle 0)");
	t_rv(F->C_CloseSession(ro), CKR_OK, "C_CloseSession");
	t_rv(F->C_CloseSession(ro), CKR_SESSION_HANDLE_INVALID, "C_CloseSession twice");
	p11t_session_calls("closed session", ro, 1, CKR_SESSION_HANDLE_INVALID);
	p11t_session_calls("handle never given", 0x7fff0000, 1, CKR_SESSION_HANDLE_INVALID);
	t_rv(F->C_CloseAllSessions(4242), CKR_SLOT_ID_INVALID, "C_CloseAllSessions(unknown slot)");
	t_rv(F->C_CloseAllSessions(slot), CKR_OK, "C_CloseAllSessions");
	t_rv(F->C_GetSessionInfo(rw, &si), CKR_SESSION_HANDLE_INVALID, "... closed every session");
}

static void test_so_and_user(CK_SLOT_ID slot)
{
	CK_SESSION_HANDLE ro = p11t_open(slot, RO), rw = p11t_open(slot, RW), h;
	char pin129[130];

	memset(pin129, '7', 129);
	pin129[129] = 0;
	t_rv(login(rw, CKU_USER, USER_PIN), CKR_USER_PIN_NOT_INITIALIZED, "C_Login(user) before C_InitPIN");
	t_rv(login(rw, 7, SO_PIN), CKR_USER_TYPE_INVALID, "C_Login(unknown user type)");
	t_rv(F->C_Login(rw, CKU_SO, NULL, 8), CKR_ARGUMENTS_BAD, "C_Login(NULL PIN)");
	t_rv(login(rw, CKU_CONTEXT_SPECIFIC, SO_PIN), CKR_OPERATION_NOT_INITIALIZED,
	     "C_Login(CKU_CONTEXT_SPECIFIC) with no operation");
	t_rv(login(rw, CKU_SO, SO_PIN), CKR_SESSION_READ_ONLY_EXISTS, "C_Login(SO) with a RO session open");
	t_rv(F->C_InitPIN(ro, (CK_UTF8CHAR_PTR)USER_PIN, strlen(USER_PIN)), CKR_SESSION_READ_ONLY,
	     "C_InitPIN in a RO session");
	t_rv(F->C_InitPIN(rw, (CK_UTF8CHAR_PTR)USER_PIN, strlen(USER_PIN)), CKR_USER_NOT_LOGGED_IN,
	     "C_InitPIN without the SO");
	MUST(F->C_CloseSession(ro));
	t_rv(login(rw, CKU_SO, "wrong-so-pin"), CKR_PIN_INCORRECT, "C_Login(SO, wrong PIN)");
	t_eq(state_of(rw), CKS_RW_PUBLIC_SESSION, "... still public");
	t_rv(login(rw, CKU_SO, SO_PIN), CKR_OK, "C_Login(SO)");
	t_eq(state_of(rw), CKS_RW_SO_FUNCTIONS, "CKS_RW_SO_FUNCTIONS");
	t_rv(F->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &h), CKR_SESSION_READ_WRITE_SO_EXISTS,
	     "C_OpenSession(RO) while the SO is logged in");
	h = p11t_open(slot, RW);
	t_eq(state_of(h), CKS_RW_SO_FUNCTIONS, "a new RW session shares the SO login");
	t_rv(login(h, CKU_SO, SO_PIN), CKR_USER_ALREADY_LOGGED_IN, "C_Login(SO) again in another session");
	t_rv(login(h, CKU_USER, USER_PIN), CKR_USER_ANOTHER_ALREADY_LOGGED_IN, "C_Login(user) while the SO is");
	t_rv(F->C_InitPIN(rw, NULL, 4), CKR_ARGUMENTS_BAD, "C_InitPIN(NULL)");
	t_rv(F->C_InitPIN(rw, (CK_UTF8CHAR_PTR)"123", 3), CKR_PIN_LEN_RANGE, "C_InitPIN(3 bytes)");
	t_rv(F->C_InitPIN(rw, (CK_UTF8CHAR_PTR)pin129, 129), CKR_PIN_LEN_RANGE, "C_InitPIN(129 bytes)");
	t_ok(!(token_flags(slot) & CKF_USER_PIN_INITIALIZED), "still no user PIN");
	t_rv(F->C_InitPIN(rw, (CK_UTF8CHAR_PTR)USER_PIN, strlen(USER_PIN)), CKR_OK, "C_InitPIN");
	t_ok(token_flags(slot) & CKF_USER_PIN_INITIALIZED, "CKF_USER_PIN_INITIALIZED");
	t_rv(F->C_Logout(h), CKR_OK, "C_Logout in the other session");
	t_eq(state_of(rw), CKS_RW_PUBLIC_SESSION, "logs out every session");
	t_rv(F->C_Logout(rw), CKR_USER_NOT_LOGGED_IN, "C_Logout when nobody is logged in");
	MUST(F->C_CloseSession(h));
	MUST(F->C_CloseSession(rw));
}

static void test_user_login(CK_SLOT_ID slot)
{
	CK_SESSION_HANDLE ro = p11t_open(slot, RO), rw = p11t_open(slot, RW), later;
	CK_FLAGS f;

	t_rv(login(ro, CKU_USER, "wrong-user-pin"), CKR_PIN_INCORRECT, "C_Login(user, wrong PIN)");
	f = token_flags(slot);
	t_ok(f & CKF_USER_PIN_COUNT_LOW, "CKF_USER_PIN_COUNT_LOW after a wrong PIN");
	t_ok(!(f & (CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED)), "not FINAL_TRY nor LOCKED (limit is high)");
	t_rv(login(ro, CKU_USER, "12"), CKR_PIN_INCORRECT, "C_Login(user, PIN too short)");
	t_eq(state_of(ro), CKS_RO_PUBLIC_SESSION, "still public");
	t_rv(login(ro, CKU_USER, USER_PIN), CKR_OK, "C_Login(user) in a RO session");
	t_eq(state_of(ro), CKS_RO_USER_FUNCTIONS, "CKS_RO_USER_FUNCTIONS");
	t_eq(state_of(rw), CKS_RW_USER_FUNCTIONS, "the other (RW) session too: CKS_RW_USER_FUNCTIONS");
	later = p11t_open(slot, RO);
	t_eq(state_of(later), CKS_RO_USER_FUNCTIONS, "a session opened later is logged in too");
	t_rv(login(rw, CKU_USER, USER_PIN), CKR_USER_ALREADY_LOGGED_IN, "C_Login(user) again");
	{
		/* both apply; v2.40 gives no precedence */
		CK_RV rv = login(rw, CKU_SO, SO_PIN);
		t_ok(rv == CKR_USER_ANOTHER_ALREADY_LOGGED_IN || rv == CKR_SESSION_READ_ONLY_EXISTS,
		     "C_Login(SO) while the user is, with RO sessions: %s", ckr(rv));
	}
	t_rv(login(rw, CKU_CONTEXT_SPECIFIC, USER_PIN), CKR_OPERATION_NOT_INITIALIZED,
	     "C_Login(CKU_CONTEXT_SPECIFIC) without an operation");
	/* the last session closed logs out */
	MUST(F->C_CloseSession(ro));
	MUST(F->C_CloseSession(later));
	t_rv(login(rw, CKU_SO, SO_PIN), CKR_USER_ANOTHER_ALREADY_LOGGED_IN, "C_Login(SO) while the user is");
	t_eq(state_of(rw), CKS_RW_USER_FUNCTIONS, "still logged in while a session remains");
	MUST(F->C_CloseSession(rw));
	rw = p11t_open(slot, RW);
	t_eq(state_of(rw), CKS_RW_PUBLIC_SESSION, "closing the last session logged out");
	t_rv(F->C_Logout(rw), CKR_USER_NOT_LOGGED_IN, "... C_Logout agrees");
	/* and C_CloseAllSessions */
	p11t_login(rw, CKU_USER, USER_PIN);
	MUST(F->C_CloseAllSessions(slot));
	rw = p11t_open(slot, RW);
	t_eq(state_of(rw), CKS_RW_PUBLIC_SESSION, "C_CloseAllSessions logged out");
	MUST(F->C_CloseSession(rw));
}

static void test_set_pin(CK_SLOT_ID slot)
{
	CK_SESSION_HANDLE ro = p11t_open(slot, RO), rw = p11t_open(slot, RW);
	const char *newpin = "new-user-pin-99";

#define SETPIN(h, o, n) F->C_SetPIN(h, (CK_UTF8CHAR_PTR)(o), strlen(o), (CK_UTF8CHAR_PTR)(n), strlen(n))
	t_rv(SETPIN(ro, USER_PIN, newpin), CKR_SESSION_READ_ONLY, "C_SetPIN in a RO session");
	t_rv(F->C_SetPIN(rw, NULL, 4, (CK_UTF8CHAR_PTR)newpin, strlen(newpin)), CKR_ARGUMENTS_BAD, "C_SetPIN(NULL old)");
	t_rv(F->C_SetPIN(rw, (CK_UTF8CHAR_PTR)USER_PIN, strlen(USER_PIN), NULL, 4), CKR_ARGUMENTS_BAD,
	     "C_SetPIN(NULL new)");
	t_rv(SETPIN(rw, "wrong-old-pin", newpin), CKR_PIN_INCORRECT, "C_SetPIN(wrong old PIN)");
	t_rv(SETPIN(rw, USER_PIN, "123"), CKR_PIN_LEN_RANGE, "C_SetPIN(new PIN too short)");
	t_rv(SETPIN(rw, USER_PIN, newpin), CKR_OK, "C_SetPIN in a public RW session changes the user PIN");
	t_rv(login(rw, CKU_USER, USER_PIN), CKR_PIN_INCORRECT, "the old PIN no longer works");
	t_rv(login(rw, CKU_USER, newpin), CKR_OK, "the new one does");
	t_rv(SETPIN(rw, newpin, USER_PIN), CKR_OK, "C_SetPIN as the user");
	MUST(F->C_Logout(rw));
	t_rv(login(rw, CKU_USER, USER_PIN), CKR_OK, "and back");
	MUST(F->C_Logout(rw));
	MUST(F->C_CloseSession(ro));
	p11t_login(rw, CKU_SO, SO_PIN);
	t_rv(SETPIN(rw, SO_PIN, "new-so-pin-77"), CKR_OK, "C_SetPIN as the SO changes the SO PIN");
	MUST(F->C_Logout(rw));
	t_rv(login(rw, CKU_SO, SO_PIN), CKR_PIN_INCORRECT, "the old SO PIN no longer works");
	t_rv(login(rw, CKU_SO, "new-so-pin-77"), CKR_OK, "the new SO PIN does");
	t_rv(SETPIN(rw, "new-so-pin-77", SO_PIN), CKR_OK, "and back");
	t_rv(login(rw, CKU_USER, USER_PIN), CKR_USER_ANOTHER_ALREADY_LOGGED_IN, "(the user PIN is untouched)");
	MUST(F->C_Logout(rw));
	t_rv(login(rw, CKU_USER, USER_PIN), CKR_OK, "the user PIN is untouched");
	MUST(F->C_CloseSession(rw));
#undef SETPIN
}

static void test_reinit(CK_SLOT_ID slot, CK_SLOT_ID other_slot)
{
	CK_UTF8CHAR label[32];
	CK_SESSION_HANDLE h = p11t_open(slot, RW), other = p11t_open(other_slot, RW);
	CK_OBJECT_HANDLE o;
	CK_OBJECT_HANDLE found[4];
	CK_TOKEN_INFO ti;
	char serial[16];

	p11t_login(h, CKU_USER, USER_PIN);
	MUST(p11t_data(h, "will be gone", true, false, &o));
	MUST(p11t_data(h, "private, gone", true, true, &o));
	MUST(F->C_GetTokenInfo(slot, &ti));
	memcpy(serial, ti.serialNumber, 16);
	p11t_label(label, "reborn");
	t_rv(F->C_InitToken(slot, (CK_UTF8CHAR_PTR)SO_PIN, strlen(SO_PIN), label), CKR_SESSION_EXISTS,
	     "C_InitToken with a session open on the token");
	MUST(F->C_CloseSession(h));
	t_rv(F->C_InitToken(slot, (CK_UTF8CHAR_PTR)"wrong-so-pin", 12, label), CKR_PIN_INCORRECT,
	     "C_InitToken(wrong SO PIN)");
	h = p11t_open(slot, RO);
	t_eq(p11t_find(h, NULL, 0, found, 4), 1, "the objects survive a refused re-initialization");
	MUST(F->C_CloseSession(h));
	t_rv(F->C_InitToken(slot, (CK_UTF8CHAR_PTR)SO_PIN, strlen(SO_PIN), label), CKR_OK,
	     "C_InitToken re-initializes (a session open on another token does not matter)");
	t_rv(F->C_GetSessionInfo(other, NULL), CKR_ARGUMENTS_BAD, "the other token's session is still there");
	MUST(F->C_GetTokenInfo(slot, &ti));
	t_ok(memcmp(ti.label, label, 32) == 0, "the new label");
	t_ok(!(ti.flags & CKF_USER_PIN_INITIALIZED), "no user PIN any more");
	t_ok(memcmp(ti.serialNumber, serial, 16) == 0, "the serial stays");
	h = p11t_open(slot, RW);
	t_eq(p11t_find(h, NULL, 0, found, 4), 0, "every object is gone");
	t_rv(login(h, CKU_USER, USER_PIN), CKR_USER_PIN_NOT_INITIALIZED, "the old user PIN is gone");
	t_rv(login(h, CKU_SO, SO_PIN), CKR_OK, "the SO PIN works");
	MUST(F->C_InitPIN(h, (CK_UTF8CHAR_PTR)USER_PIN, strlen(USER_PIN)));
	MUST(F->C_Logout(h));
	t_rv(login(h, CKU_USER, USER_PIN), CKR_OK, "the user logs in again");
	t_eq(p11t_find(h, NULL, 0, found, 4), 0, "and finds nothing private left");
	MUST(F->C_CloseSession(h));
	MUST(F->C_CloseSession(other));
}

static void test_state_functions(CK_SLOT_ID slot)
{
	CK_SESSION_HANDLE h = p11t_open(slot, RO);
	CK_MECHANISM m = { CKM_SHA256, NULL, 0 };
	CK_BYTE state[256];
	CK_ULONG len = sizeof(state);

	MUST(F->C_DigestInit(h, &m));
	{
		CK_RV rv = F->C_GetOperationState(h, state, &len);
		t_ok(rv == CKR_STATE_UNSAVEABLE || rv == CKR_OK || rv == CKR_FUNCTION_NOT_SUPPORTED,
		     "C_GetOperationState during a digest: %s", ckr(rv));
	}
	t_rv(F->C_SetOperationState(h, state, 16, 0, 0), CKR_SAVED_STATE_INVALID, "C_SetOperationState(garbage)");
	t_rv(F->C_GetFunctionStatus(h), CKR_FUNCTION_NOT_PARALLEL, "C_GetFunctionStatus");
	t_rv(F->C_CancelFunction(h), CKR_FUNCTION_NOT_PARALLEL, "C_CancelFunction");
	MUST(F->C_CloseSession(h));
}

int main(void)
{
	CK_SLOT_ID free_slot, slot, second;

	p11t_load();
	MUST(p11t_init());
	test_slots(&free_slot);
	slot = test_init_token(free_slot);
	test_sessions(slot);
	test_so_and_user(slot);
	test_user_login(slot);
	test_set_pin(slot);
	second = p11t_new_token("second token", SO_PIN, USER_PIN);
	t_eq(slot_count(), 3, "two tokens, three slots");
	t_ok(second != slot, "the second token has its own slot");
	test_reinit(slot, second);
	test_state_functions(slot);

	/* everything persists across C_Finalize / C_Initialize */
	MUST(F->C_Finalize(NULL));
	MUST(p11t_init());
	t_eq(slot_count(), 3, "after C_Finalize and C_Initialize: still three slots");
	{
		CK_SESSION_HANDLE h = p11t_open(p11t_slot_by_label("second token"), RO);
		t_rv(login(h, CKU_USER, USER_PIN), CKR_OK, "and the second token's user PIN works");
	}
	MUST(F->C_Finalize(NULL));
	return t_done();
}
