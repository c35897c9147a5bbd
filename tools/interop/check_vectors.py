#!/usr/bin/python3
"""Independent check of docs/vectors/{pairing,session}.json against docs/PROTOCOL.md.

Written from PROTOCOL.md alone (no Rust code read). Each party builds its own frames from its
own inputs and state: the endpoint PairStart, PairConfirm and its requests; the lock PairReply,
PairDone (with the grant it decides) and its responses (from `lock_state`). Each receiver
parses and validates the *published* frames. SPAKE2 runs on libsodium's Ed25519 primitives and
is cross-checked against python-spake2. Every value in both files must be read (and so
checked): an unread key is a failure.
Needs Debian's python3-nacl and python3-spake2:  /usr/bin/python3 tools/interop/check_vectors.py
The last line is `N passed, M failed`; the exit status is 0 only if M is 0.
"""
import hashlib
import hmac
import json
import struct
import sys
import unicodedata
from pathlib import Path

import nacl.bindings as na
from spake2 import SPAKE2_A, SPAKE2_B
from spake2 import ed25519_basic as ed
from spake2.parameters.ed25519 import ParamsEd25519

VECTORS = Path(__file__).resolve().parents[2] / "docs" / "vectors"
unhex = bytes.fromhex
passed, failed = 0, []


def check(name, got, want):
    """Record one comparison; bytes and ints are compared exactly."""
    global passed
    if got == want:
        passed += 1
    else:
        show = lambda x: x.hex() if isinstance(x, bytes) else \
            [show(i) for i in x] if isinstance(x, (tuple, list)) else x
        failed.append(f"{name}: got {show(got)}, want {show(want)}")


class Vector(dict):
    """A JSON object that remembers which keys were read, so unchecked values show up."""
    def __init__(self, obj, path):
        wrap = lambda v, p: Vector(v, p) if isinstance(v, dict) else [
            wrap(x, f"{p}[{i}]") for i, x in enumerate(v)] if isinstance(v, list) else v
        super().__init__({k: wrap(v, f"{path}.{k}") for k, v in obj.items()})
        self.path, self.read = path, set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def unread(self):
        children = [c for v in self.values() for c in (v if isinstance(v, list) else [v])]
        return [f"{self.path}.{k}" for k in self.keys() - self.read] + [
            u for c in children if isinstance(c, Vector) for u in c.unread()]


# --- Section 3: building blocks -------------------------------------------------------
sha256 = lambda m: hashlib.sha256(m).digest()
hmac256 = lambda k, m: hmac.new(k, m, hashlib.sha256).digest()
hkdf_extract = lambda salt, ikm: hmac256(salt or bytes(32), ikm)


def hkdf_expand(prk, info, n):
    out, t = b"", b""
    while len(out) < n:
        t = hmac256(prk, t + info + bytes([len(out) // 32 + 1]))
        out += t
    return out[:n]


seal = lambda k, n, m: na.crypto_secretbox(m, n, k)      # PyNaCl gives tag(16) || ciphertext


def unseal(k, n, c):
    try:
        return na.crypto_secretbox_open(c, n, k)
    except Exception:
        return None


# BoxKey(sk, pk), in PyNaCl's (pk, sk) order. libsodium raises for a peer key for which
# X25519(sk, pk) is all zero, which is the refusal section 3 requires.
box_key = lambda sk, pk: na.crypto_box_beforenm(pk, sk)


def raises(fn, *args):
    try:
        fn(*args)
        return False
    except Exception:
        return True


# --- Section 3.1: SPAKE2 over Ed25519 (libsodium arithmetic) --------------------------
L = 2**252 + 27742317777372353535851937790883648493
M = unhex("15cfd18e385952982b6a8f8c7854963b58e34388c8e6dae891db756481a02312")
N = unhex("f04f2e7eb734b2a8f8b472eaf9c3c632576ac64aea650b496a8a20ff00e583c3")
IDENTITY = b"\x01" + bytes(31)
le32 = lambda n: n.to_bytes(32, "little")
pw_scalar = lambda pw: int.from_bytes(hkdf_expand(hkdf_extract(b"", pw), b"SPAKE2 pw", 48),
                                      "big") % L
mul = lambda scalar, point: na.crypto_scalarmult_ed25519_noclamp(le32(scalar), point)


def canonical(p):
    """Decoding and re-encoding gives the same bytes (python-spake2's lenient decoder)."""
    try:
        return ed.bytes_to_unknown_group_element(p).to_bytes() == p
    except ed.NotOnCurve:
        return False


def valid_point(p):
    """Section 3.1: canonical, not the identity, and L*P is the identity."""
    return canonical(p) and p != IDENTITY and ed.is_extended_zero(
        ed.scalarmult_element_safe_slow(ed.bytes_to_unknown_group_element(p).XYTZ, L))


def spake_start(side, scalar, pw):
    """msg = side || enc(scalar*B + w*(M for A, N for B))."""
    return side + na.crypto_core_ed25519_add(na.crypto_scalarmult_ed25519_base_noclamp(
        le32(scalar)), mul(pw_scalar(pw), M if side == b"A" else N))


def spake_finish(side, scalar, pw, id_a, id_b, own, peer):
    """Validate the peer's message (3.1) and return the 32-byte SPAKE2 key."""
    if (len(peer) != 33 or peer[:1] != (b"B" if side == b"A" else b"A")
            or not valid_point(peer[1:]) or peer[1:] == own[1:]):
        raise ValueError("malformed SPAKE2 message")
    unblind = mul(pw_scalar(pw), N if side == b"A" else M)
    k = mul(scalar, na.crypto_core_ed25519_sub(peer[1:], unblind))
    x, y = (own, peer) if side == b"A" else (peer, own)
    return sha256(sha256(pw) + sha256(id_a) + sha256(id_b) + x[1:] + y[1:] + k)


def check_point_rule(pw, id_a, id_b, y_wide, msg_a, msg_b):
    """The lock receiving msg_A: the rule above must agree with libsodium's is_valid_point,
    and with python-spake2's SPAKE2_B.finish plus canonicity. (The endpoint has already
    applied the rule to the published msg_B.)"""
    def py_accepts(msg):
        b = SPAKE2_B(pw, idA=id_a, idB=id_b, entropy_f=lambda n: y_wide[::-1])
        b.start()
        return not raises(b.finish, msg)
    y = int.from_bytes(msg_a[1:], "little")
    torsioned = le32((2**255 - 19 - y % 2**255) | (~y & 2**255))      # P + (0, -1) = (-x, -y)
    for name, p, want in (
            ("published msg_A", msg_a[1:], True), ("identity", IDENTITY, False),
            ("order-2 point (0,-1)", le32(2**255 - 20), False),
            ("order-8 point", unhex("c7176a703d4dd84fba3c0b760d10670f"
                                    "2a2053fa2c39ccc64ec7fd7792ac037a"), False),
            ("msg_A point + (0,-1)", torsioned, False), ("off the curve (y=2)", le32(2), False),
            ("identity with x sign bit", IDENTITY[:31] + b"\x80", False),
            ("identity as y = p + 1", le32(2**255 - 18), False)):
        mine, py = valid_point(p), py_accepts(b"A" + p)
        check(f"point rule: {name}", mine, want)
        check(f"point rule = libsodium: {name}", mine, na.crypto_core_ed25519_is_valid_point(p))
        check(f"point rule = python-spake2 + canonical: {name}", mine, py and canonical(p))
        print(f"  point {name}: rule {mine}, python-spake2 {py}")
    for name, msg in (("reflected msg_B", b"A" + msg_b[1:]), ("wrong side byte", b"B" + msg_a[1:])):
        check(f"SPAKE2 refuses {name}, as python-spake2 does", (raises(
            spake_finish, b"B", 1, pw, id_a, id_b, msg_b, msg), py_accepts(msg)), (True, False))


# --- Sections 4-7: names, codes, envelope, pairing ------------------------------------
def valid_name(b):
    try:
        return 1 <= len(b) <= 32 and all(unicodedata.category(c) != "Cc" for c in b.decode())
    except UnicodeDecodeError:
        return False


def good_label(digits):
    """8-16 digits, not all equal, not an ascending or descending run (mod 10)."""
    steps = {(int(b) - int(a)) % 10 for a, b in zip(digits, digits[1:])}
    return digits.isdigit() and 8 <= len(digits) <= 16 and not (len(steps) == 1 and
                                                                 steps <= {0, 1, 9})


header = lambda kind, auth_id, counter: struct.pack("<BBIQ", 1, kind, auth_id, counter)


def envelope(what, frame, kind, auth_id, counter, body_len=None):
    """Section 6 validation plus the header this receiver expects; returns the body."""
    check(f"{what}: header", (14 <= len(frame) <= 4096, struct.unpack_from("<BBIQ", frame)),
          (True, (1, kind, auth_id, counter)))
    if body_len is not None:
        check(f"{what}: body length", len(frame) - 14, body_len)
    return frame[14:]


str8 = lambda b: bytes([len(b)]) + b
pair_nonce = lambda s: bytes([s]) + bytes(23)
GRANT = struct.Struct("<BBQQ")                 # role, flags, not_before, not_after
PAIR_GRANT = struct.Struct("<I18sQQ")          # auth_id, grant, both counter floors
FOREVER = 2**64 - 1


def decode_grant(g):
    role, flags, not_before, not_after = GRANT.unpack(g)
    if role not in (1, 2) or flags > 1 or not_after < not_before:
        raise ValueError("malformed grant")
    return {"role": role, "remote": bool(flags), "not_before": not_before, "not_after": not_after}


def pairing_keys(spake2_key):
    prk = hkdf_extract(b"lockgate v1 pairing", spake2_key)
    return [hkdf_expand(prk, b"lockgate v1 " + info, 32) for info in
            (b"pairing encryption", b"endpoint confirmation", b"lock confirmation")]


def transcript(pairing_id, lock_id, start_body, msg_b, lock_pk, endpoint_pk):
    return sha256(b"lockgate v1 pairing transcript" + struct.pack("<I", pairing_id) + lock_id
                  + start_body + msg_b + lock_pk + endpoint_pk)


def parse_pair_start(body):
    """The lock's strict parse: code_kind, invite_id, name (str8), msg_A; exact length."""
    kind, invite_id, n = struct.unpack_from("<BHB", body)
    name, msg_a = body[4:4 + n], body[4 + n:]
    if not ((kind, invite_id) == (1, 0) or kind == 2 and invite_id <= 9999) \
            or len(name) != n or not valid_name(name) or len(msg_a) != 33:
        raise ValueError("malformed PairStart")
    return kind, invite_id, name, msg_a


def run_pairing(v):
    pid, lock_id, now = v["pairing_id"], unhex(v["lock_id"]), v["now_ms"]
    frames = {k: unhex(v["frames"][k]) for k in ("pair_start", "pair_reply", "pair_confirm",
                                                 "pair_done")}
    e_sk, l_sk = unhex(v["endpoint_secret_key"]), unhex(v["lock_secret_key"])
    e_pk, l_pk = na.crypto_scalarmult_base(e_sk), na.crypto_scalarmult_base(l_sk)
    check("public keys", (e_pk, l_pk), (unhex(v["endpoint_public_key"]),
                                        unhex(v["lock_public_key"])))
    # Both sides know the label code (5.1) and the lock id (4).
    digits = v["label_code"].replace(" ", "").replace("-", "")
    check("label code is acceptable (5.1)", good_label(digits), True)
    pw = b"lockgate v1 label:" + digits.encode()
    check("spake2_password", pw, unhex(v["spake2_password"]))
    check("M, N, w = python-spake2's", (M, N, pw_scalar(pw)), (ParamsEd25519.M.to_bytes(),
          ParamsEd25519.N.to_bytes(), ParamsEd25519.group.password_to_scalar(pw)))
    id_b = b"lockgate v1 lock:" + lock_id.hex().encode()
    check("spake2_id_b", id_b, unhex(v["spake2_id_b"]))
    x_wide, y_wide = unhex(v["spake2_x_wide"]), unhex(v["spake2_y_wide"])
    x, y = (int.from_bytes(w, "little") % L for w in (x_wide, y_wide))
    check("spake2_x, spake2_y", (le32(x), le32(y)), (unhex(v["spake2_x"]), unhex(v["spake2_y"])))
    check("= libsodium scalar_reduce", (le32(x), le32(y)), tuple(
        na.crypto_core_ed25519_scalar_reduce(w) for w in (x_wide, y_wide)))

    # Endpoint -> PairStart (counter 1): label code, invite id 0, name, msg_A.
    check("pairing id has the top bit set", pid >> 31, 1)
    name = v["endpoint_name"].encode()
    id_a = b"lockgate v1 endpoint:" + name
    check("spake2_id_a", id_a, unhex(v["spake2_id_a"]))
    msg_a = spake_start(b"A", x, pw)
    start_body = b"\x01" + struct.pack("<H", 0) + str8(name) + msg_a
    check("frame pair_start (endpoint)", header(1, pid, 1) + start_body, frames["pair_start"])

    # Lock <- PairStart: parse, window open, msg_A valid, charge one attempt -> PairReply.
    body = envelope("lock <- PairStart", frames["pair_start"], 1, pid, 1, 37 + len(name))
    kind, invite_id, l_name, l_msg_a = parse_pair_start(body)
    print(f"PairStart: code_kind {kind}, invite_id {invite_id}, name {l_name.decode()!r}, "
          f"msg_A {l_msg_a.hex()}")
    window_until = now + 120_000                # the button was pressed at now_ms (11.2)
    check("lock: pairing window open", now < window_until, True)
    msg_b = spake_start(b"B", y, pw)
    l_key = spake_finish(b"B", y, pw, b"lockgate v1 endpoint:" + l_name, id_b, msg_b, l_msg_a)
    l_enc, l_conf_e, l_conf_l = pairing_keys(l_key)
    check("frame pair_reply (lock)", header(1, pid, 2) + msg_b + seal(l_enc, pair_nonce(2), l_pk),
          frames["pair_reply"])

    # Endpoint <- PairReply: msg_B, key, open the lock key -> PairConfirm (counter 3).
    body = envelope("endpoint <- PairReply", frames["pair_reply"], 1, pid, 2, 81)
    e_key = spake_finish(b"A", x, pw, id_a, id_b, msg_a, body[:33])
    check("spake2_key (endpoint, lock)", (e_key, l_key), (unhex(v["spake2_key"]),) * 2)
    e_enc, e_conf_e, e_conf_l = keys = pairing_keys(e_key)
    check("k_enc, k_confirm_endpoint, k_confirm_lock", keys,
          [unhex(v[k]) for k in ("k_enc", "k_confirm_endpoint", "k_confirm_lock")])
    check("the lock's pairing keys", [l_enc, l_conf_e, l_conf_l], keys)
    got_l_pk = unseal(e_enc, pair_nonce(2), body[33:]) or bytes(32)
    check("endpoint opens sealed_lock_key", got_l_pk, l_pk)
    e_t = transcript(pid, lock_id, start_body, body[:33], got_l_pk, e_pk)
    check("transcript_hash (endpoint)", e_t, unhex(v["transcript_hash"]))
    check("frame pair_confirm (endpoint)", header(1, pid, 3) + seal(e_enc, pair_nonce(3), e_pk)
          + hmac256(e_conf_e, e_t), frames["pair_confirm"])

    # Lock <- PairConfirm: open, verify confirm_E, enroll -> PairDone (counter 4).
    body = envelope("lock <- PairConfirm", frames["pair_confirm"], 1, pid, 3, 80)
    got_e_pk = unseal(l_enc, pair_nonce(3), body[:48]) or bytes(32)
    check("lock opens sealed_endpoint_key", got_e_pk, e_pk)
    l_t = transcript(pid, lock_id, frames["pair_start"][14:], msg_b, l_pk, got_e_pk)
    check("transcript_hash (lock)", l_t, e_t)
    check("lock: confirm_E verifies", hmac.compare_digest(body[48:], hmac256(l_conf_e, l_t)), True)
    # A new key, the lock's first endpoint, a label code: id 1, admin, remote, unlimited.
    auth = {"id": 1, "key": box_key(l_sk, got_e_pk), "grant": GRANT.pack(1, 1, 0, FOREVER),
            "tx": 1, "window": Window(0)}
    pair_grant = PAIR_GRANT.pack(auth["id"], auth["grant"], 0, 0)   # new: both floors 0
    check("pair_grant (lock)", pair_grant, unhex(v["pair_grant"]))
    check("frame pair_done (lock)", header(1, pid, 4) + seal(l_enc, pair_nonce(4), pair_grant)
          + hmac256(l_conf_l, l_t + pair_grant), frames["pair_done"])
    window_until = now                  # a label pairing closes the window (7.5 step 6)

    # Endpoint <- PairDone: open the grant, check confirm_L, decode pair_grant.
    body = envelope("endpoint <- PairDone", frames["pair_done"], 1, pid, 4, 86)
    got = unseal(e_enc, pair_nonce(4), body[:54]) or bytes(38)
    check("endpoint: confirm_L verifies",
          hmac.compare_digest(body[54:], hmac256(e_conf_l, e_t + got)), True)
    auth_id, grant, e_floor, l_floor = PAIR_GRANT.unpack(got)
    check("pair_grant auth_id in 1..=0x7FFFFFFF, = auth_id", (1 <= auth_id <= 0x7FFFFFFF, auth_id),
          (True, v["auth_id"]))
    print(f"PairDone: auth_id {auth_id}, grant {decode_grant(grant)}, endpoint_counter_floor "
          f"{e_floor}, lock_counter_floor {l_floor}")

    # python-spake2 must agree (it reads entropy big-endian: feed it the reversed bytes).
    a = SPAKE2_A(pw, idA=id_a, idB=id_b, entropy_f=lambda n: x_wide[::-1])
    b = SPAKE2_B(pw, idA=id_a, idB=id_b, entropy_f=lambda n: y_wide[::-1])
    ma, mb = a.start(), b.start()
    check("python-spake2 msg_A, msg_B", (ma, mb), (msg_a, msg_b))
    check("python-spake2 keys", (a.finish(mb), b.finish(ma)), (e_key, e_key))
    check_point_rule(pw, id_a, id_b, y_wide, msg_a, msg_b)
    k = box_key(e_sk, got_l_pk)                        # the session key (8.1)
    check("BoxKey is symmetric; a low-order key is refused", (k, raises(box_key, e_sk, bytes(32))),
          (auth["key"], True))
    return Endpoint(k, auth_id, e_floor, l_floor), auth, now < window_until


# --- Sections 8 and 9: sessions and commands ------------------------------------------
REJECT_AFTER = 2**64 - 2**16 - 1
MECHANISMS = [None, "locked", "unlocking", "unlocked", "locking", "unlatching", "unlatched",
              "jammed"]
DOORS = ["unknown", "closed", "open"]
session_nonce = lambda direction, hdr: direction + hdr + bytes(9)


class Window:
    """Section 8.4 with a set in place of the RFC 6479 bitmap. Counters up to the initial
    top (a restored top, or lock_counter_floor) count as already seen."""
    def __init__(self, top):
        self.top = self.floor = top
        self.seen = set()

    def acceptable(self, c):
        return 1 <= c <= REJECT_AFTER and (c > self.top or self.top - c < 192
                                           and c > self.floor and c not in self.seen)

    def record(self, c):
        self.seen.add(c)
        self.top = max(self.top, c)


class Reader:
    """Reads fields in order; a short, out-of-range or trailing byte raises ValueError."""
    def __init__(self, data):
        self.d, self.i = data, 0

    def take(self, n, ok=lambda b: True):
        b, self.i = self.d[self.i:self.i + n], self.i + n
        return need(len(b) == n and ok(b), b)

    def u(self, fmt, ok=range(2**64)):
        value = struct.unpack("<" + fmt, self.take(struct.calcsize(fmt)))[0]
        return need(value in ok, value)

    def str8(self, ok):
        return self.take(self.u("B"), ok).decode()

    def end(self, fields):
        return need(self.i == len(self.d), fields)        # no trailing bytes


def need(ok, value):
    if not ok:
        raise ValueError("malformed")
    return value


firmware = lambda b: len(b) <= 64 and b.decode(errors="replace").encode() == b   # UTF-8
NAMES = {1: "status", 2: "challenge", 3: "lock", 4: "unlock", 5: "unlatch", 0x10: "invite_create",
         0x11: "auth_list", 0x12: "auth_revoke", 0x13: "auth_rename", 0x14: "set_time"}
REQUEST = {1: lambda r: {}, 2: lambda r: {},
           **{op: lambda r: {"challenge": r.take(16).hex()} for op in (3, 4, 5)},
           0x10: lambda r: {"grant": decode_grant(r.take(18)), "ttl_secs": r.u("I")},
           0x11: lambda r: {}, 0x12: lambda r: {"id": r.u("I")},
           0x13: lambda r: {"id": r.u("I"), "name": r.str8(valid_name)},
           0x14: lambda r: {"unix_ms": r.u("Q")}}
RESPONSE = {1: lambda r: {"mechanism": MECHANISMS[r.u("B", range(1, 8))],
                          "door": DOORS[r.u("B", range(3))], "battery": r.u("B", range(101)),
                          "flags": r.u("B", range(8)), "time_ms": r.u("Q"),
                          "firmware": r.str8(firmware)},
            2: lambda r: {"challenge": r.take(16).hex(), "valid_ms": r.u("I")},
            **{op: lambda r: {"mechanism": MECHANISMS[r.u("B", range(1, 8))]} for op in (3, 4, 5)},
            0x10: lambda r: {"code": r.take(16, bytes.isdigit).decode(),
                             "expires_in_secs": r.u("I")},
            0x11: lambda r: {"entries": [{"id": r.u("I"), "grant": decode_grant(r.take(18)),
                                          "public_key": r.take(32).hex(),
                                          "name": r.str8(valid_name)}
                                         for _ in range(r.u("B", range(33)))]},
            **{op: lambda r: {} for op in (0x12, 0x13, 0x14)}}


def decode_request(pt):
    """The fields of a request; KeyError for an unknown opcode, ValueError if malformed."""
    r = Reader(pt)
    op = r.u("B")
    return r.end({"op": NAMES[op], **REQUEST[op](r)})


def decode_response(pt):
    r = Reader(pt)
    op, in_reply_to, result = r.u("B", range(0x80, 0x100)) & 0x7F, r.u("Q"), r.u("B", range(29))
    return r.end({"op": NAMES[op], "in_reply_to": in_reply_to, "result": result,
                  **(RESPONSE[op](r) if result == 0 else {})})


class Endpoint:
    """Starts from pair_grant's floors (7.1): tx at endpoint floor + 1, top at lock floor."""
    def __init__(self, key, auth_id, endpoint_floor, lock_floor):
        self.key, self.auth_id, self.tx = key, auth_id, endpoint_floor + 1
        self.window, self.waiting = Window(lock_floor), {}

    def send(self, pt):
        c, self.tx = self.tx, self.tx + 1
        hdr, self.waiting[c] = header(2, self.auth_id, c), pt[0]
        return c, session_nonce(b"E", hdr), hdr + seal(self.key, session_nonce(b"E", hdr), pt)

    def receive(self, frame, counter):
        body = envelope(f"endpoint <- #{counter}", frame, 2, self.auth_id, counter)
        pt = unseal(self.key, session_nonce(b"L", frame[:14]), body)
        check(f"endpoint: #{counter} acceptable, opens", (self.window.acceptable(counter),
                                                          pt is not None), (True, True))
        self.window.record(counter)
        resp = decode_response(pt)
        check(f"endpoint: #{counter} answers a request", self.waiting.pop(resp["in_reply_to"]),
              pt[0] & 0x7F)
        return resp


class Lock:
    """The lock's session processing (8.5, 9.3, 9.4) for status, challenge and actuations."""
    def __init__(self, auth, state, window_open, randomness):
        self.auths, self.state, self.window_open = {auth["id"]: auth}, state, window_open
        self.mechanism, self.random = MECHANISMS.index(state["mechanism"]), randomness
        self.challenges = []                             # (challenge, issued, auth id)

    def receive(self, frame, now):
        """Returns (frame, response plaintext), or (error frame, None)."""
        _, _, a, c = struct.unpack_from("<BBIQ", frame)
        error = lambda code: (header(3, a, c) + bytes([code]), None)
        auth = self.auths.get(a)
        if auth is None:
            return error(4)                                  # unknown_authorization
        if not auth["window"].acceptable(c):
            return error(27 if c > REJECT_AFTER else 6)      # counter_exhausted / replayed
        pt = unseal(auth["key"], session_nonce(b"E", frame[:14]), frame[14:])
        if pt is None:
            return error(5)                                  # authentication_failed
        auth["window"].record(c)
        try:
            decode_request(pt)
        except KeyError:
            return error(3)                                  # unknown_command
        except ValueError:
            return error(1)                                  # malformed
        result, fields = self.execute(auth, pt, now)
        hdr, auth["tx"] = header(2, a, auth["tx"]), auth["tx"] + 1
        response = struct.pack("<BQB", pt[0] | 0x80, c, result) + fields
        return hdr + seal(auth["key"], session_nonce(b"L", hdr), response), response

    def execute(self, auth, pt, now):
        """9.3 for this lock (frames come through a gateway; its clock was never set), then
        the command (all roles may send those of the vector)."""
        _, flags, not_before, not_after = GRANT.unpack(auth["grant"])
        if not flags & 1 or (not_before, not_after) != (0, FOREVER):
            return 10 if not flags & 1 else 15, b""          # remote_not_allowed, clock_not_set
        if pt[0] == 1:                                       # status: time_ms 0, clock not set
            s = self.state
            return 0, struct.pack("<BBBBQ", self.mechanism, DOORS.index(s["door"]),
                                  s["battery_percent"], self.window_open
                                  | s["unlatch_supported"] << 2, 0) + str8(s["firmware"].encode())
        if pt[0] not in (2, 3, 4, 5):
            raise NotImplementedError("only the vector's commands are modelled")
        if pt[0] == 2:                                       # keep the 4 newest
            self.challenges = (self.challenges + [(self.random, now, auth["id"])])[-4:]
            return 0, self.random + struct.pack("<I", 30_000)
        found = [e for e in self.challenges
                 if hmac.compare_digest(e[0], pt[1:17]) and e[2] == auth["id"]]
        self.challenges = [e for e in self.challenges if e not in found]    # consumed
        if not found or now >= found[0][1] + 30_000:
            return (12 if found else 11), b""                # challenge_expired / _invalid
        if MECHANISMS[self.mechanism] in ("unlocking", "locking", "unlatching", "unlatched"):
            return 13, b""                                   # mechanism_busy
        self.mechanism = MECHANISMS.index({3: "locking", 4: "unlocking", 5: "unlatching"}[pt[0]])
        return 0, bytes([self.mechanism])                    # the lock can unlatch


def run_session(v, endpoint, auth, window_open):
    state = v["lock_state"]
    check("session auth_id", v["auth_id"], endpoint.auth_id)
    check("lock: window closed by the pairing, clock never set",
          (window_open, False), (state["pairing_window_open"], state["clock_set"]))
    lock = Lock(auth, state, window_open, unhex(v["lock_challenge_randomness"]))
    clock, last = iter(v["lock_clock_ms"]), {}
    script = iter([lambda: b"\x01", lambda: b"\x02",                  # status, challenge,
                   lambda: b"\x04" + unhex(last["challenge"])])      # unlock with it
    for f in v["frames"]:
        d, want = f["direction"], unhex(f["frame"])
        if d == "endpoint_to_lock":
            pt = next(script)()
            c, nonce, frame = endpoint.send(pt)
            print(f"  E->L #{c} {decode_request(pt)}")
            answer = lock.receive(want, next(clock))      # the lock answers the published frame
        else:
            (frame, pt), answer = answer, None
            c, nonce = struct.unpack_from("<Q", frame, 6)[0], session_nonce(b"L", frame[:14])
            last = endpoint.receive(want, f["counter"])
            print(f"  L->E #{c} {last}")
        check(f"{d} #{c}: counter, nonce, plaintext, frame", (c, nonce, pt, frame),
              (f["counter"], unhex(f["nonce"]), unhex(f["plaintext"]), want))

    # Beyond the vector: refusals in the order of 8.5, and a used challenge (9.4).
    now, a = v["lock_clock_ms"][-1], endpoint.auth_id
    refused = lambda frame: lock.receive(frame, now)[0][14:]            # error frame body
    check("unknown authorization", refused(header(2, a + 1, 9) + bytes(17)), bytes([4]))
    check("counter above REJECT_AFTER", refused(header(2, a, REJECT_AFTER + 1)), bytes([27]))
    check("replayed request", refused(unhex(v["frames"][0]["frame"])), bytes([6]))
    for name, pt, code in (("unknown opcode", b"\x7f", 3), ("trailing byte", b"\x01\x00", 1)):
        check(name, refused(endpoint.send(pt)[2]), bytes([code]))
    frame = endpoint.send(b"\x04" + unhex(v["lock_challenge_randomness"]))[2]
    check("tampered request", refused(frame[:-1] + bytes([frame[-1] ^ 1])), bytes([5]))
    check("its untampered copy is still accepted; used challenge -> challenge_invalid",
          endpoint.receive(lock.receive(frame, now)[0], auth["tx"] - 1)["result"], 11)


def main():
    vectors = {n: Vector(json.loads((VECTORS / f"{n}.json").read_text()), n)
               for n in ("pairing", "session")}
    try:
        print(vectors["pairing"]["description"])
        endpoint, auth, window_open = run_pairing(vectors["pairing"])
        print(vectors["session"]["description"])
        run_session(vectors["session"], endpoint, auth, window_open)
        failed.extend(f"{key}: not checked" for v in vectors.values() for key in v.unread())
    except Exception as e:          # a malformed vector aborts the run but is still reported
        failed.append(f"aborted: {type(e).__name__}: {e}")
    for f in failed:
        print("MISMATCH", f)
    print(f"{passed} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
