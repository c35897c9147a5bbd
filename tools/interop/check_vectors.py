#!/usr/bin/python3
"""Independent check of docs/vectors/{pairing,session,events}.json against docs/PROTOCOL.md.

Written from PROTOCOL.md alone (no Rust code read). Each party builds its own frames from its
own inputs and state, and parses the *published* frames of the other: the endpoint builds
PairStart, PairConfirm and its requests; the lock builds PairReply, PairDone (with the grant it
decides), its responses (from `lock_state`) and its answer to the replay. SPAKE2 follows
section 3.1 on libsodium's Ed25519 arithmetic and is cross-checked against python-spake2.
Every value in both files must be read (and so checked): an unread key is a failure.
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
from spake2 import SPAKE2_A, SPAKE2_B, SPAKEError
from spake2 import ed25519_basic as ed

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


def need(ok):
    """A receiver's parse: a field out of range, or a wrong length, is malformed (section 1)."""
    if not ok:
        raise ValueError("malformed")


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
# X25519(sk, pk) is all zero: the refusal section 3 requires (it aborts the run).
box_key = lambda sk, pk: na.crypto_box_beforenm(pk, sk)


# --- Section 3.1: SPAKE2 over Ed25519 -------------------------------------------------
L = 2**252 + 27742317777372353535851937790883648493
M = unhex("15cfd18e385952982b6a8f8c7854963b58e34388c8e6dae891db756481a02312")
N = unhex("f04f2e7eb734b2a8f8b472eaf9c3c632576ac64aea650b496a8a20ff00e583c3")
IDENTITY = b"\x01" + bytes(31)
le32 = lambda n: n.to_bytes(32, "little")
pw_scalar = lambda pw: int.from_bytes(hkdf_expand(hkdf_extract(b"", pw), b"SPAKE2 pw", 48),
                                      "big") % L
mul = lambda scalar, point: na.crypto_scalarmult_ed25519_noclamp(le32(scalar), point)


def spake2_message(side, scalar, pw):
    """msg = side || enc(scalar·B + w·(M for A, N for B))."""
    return side + na.crypto_core_ed25519_add(na.crypto_scalarmult_ed25519_base_noclamp(
        le32(scalar)), mul(pw_scalar(pw), M if side == b"A" else N))


def spake2_key(side, scalar, pw, id_a, id_b, msg_a, msg_b):
    """K = x·(Y − w·N) for A, y·(X − w·M) for B; then the key hash of 3.1."""
    peer, blind = (msg_b, N) if side == b"A" else (msg_a, M)
    k = mul(scalar, na.crypto_core_ed25519_sub(peer[1:], mul(pw_scalar(pw), blind)))
    return sha256(sha256(pw) + sha256(id_a) + sha256(id_b) + msg_a[1:] + msg_b[1:] + k)


def spake2_faults(own, msg):
    """The rules of section 3.1 that the peer's `msg` breaks, as checked by the side whose own
    outgoing message is `own` (the endpoint wants 0x42, the lock 0x41); [] = valid. Points
    are decoded leniently (python-spake2's decoder), so canonicity is checked by re-encoding,
    as 3.1 words it."""
    faults = [] if msg[:1] == {b"A": b"B", b"B": b"A"}[own[:1]] else ["side byte"]
    try:
        p = ed.bytes_to_unknown_group_element(msg[1:])
    except ed.NotOnCurve:
        return faults + ["not on the curve"]
    return faults + [rule for rule, broken in (
        ("non-canonical", p.to_bytes() != msg[1:]), ("identity", p.to_bytes() == IDENTITY),
        ("not in the prime-order subgroup", not ed.is_extended_zero(p.scalarmult(L).XYTZ)),
        ("reflection", msg[1:] == own[1:])) if broken]


# Each `invalid_spake2_messages` reason, as exactly the rules of 3.1 it breaks.
REASONS = {"identity point": ["identity"], "not on the curve": ["not on the curve"],
           "point of order 2": ["not in the prime-order subgroup"],
           "non-canonical encoding of the identity": ["non-canonical", "identity"],
           "not in the prime-order subgroup (a valid point plus a point of order 2)":
               ["not in the prime-order subgroup"],
           "side byte 'B' on msg_A's valid point": ["side byte"],
           "side byte 'A' on msg_B's valid point": ["side byte"],
           "reflection of the lock's own msg_B": ["reflection"],
           "reflection of the endpoint's own msg_A": ["reflection"]}


# --- Sections 4-7: names, codes, envelope, pairing ------------------------------------
def valid_name(b):
    try:
        return 1 <= len(b) <= 32 and all(unicodedata.category(c) != "Cc" for c in b.decode())
    except UnicodeDecodeError:
        return False


def good_label(digits):
    """5.1: 8-16 digits, not all equal, not an ascending or descending run (mod 10)."""
    steps = {(int(b) - int(a)) % 10 for a, b in zip(digits, digits[1:])}
    return digits.isdigit() and 8 <= len(digits) <= 16 and not (len(steps) == 1 and
                                                                 steps <= {0, 1, 9})


HEADER = struct.Struct("<BBIQ")                # version, kind, auth id, counter
header = lambda kind, auth_id, counter: HEADER.pack(1, kind, auth_id, counter)


def envelope(what, frame, kind, auth_id, counter, body_len=None):
    """Section 6 validation plus the header this receiver expects; returns the body."""
    check(f"{what}: header", (14 <= len(frame) <= 4096, HEADER.unpack_from(frame)),
          (True, (1, kind, auth_id, counter)))
    if body_len is not None:
        check(f"{what}: body length", len(frame) - 14, body_len)
    return frame[14:]


str8 = lambda b: bytes([len(b)]) + b
pair_nonce = lambda s: bytes([s]) + bytes(23)
GRANT = struct.Struct("<BBQQ")                 # role, flags, not_before, not_after
FOREVER = 2**64 - 1


def decode_pair_grant(b):
    """7.1: auth_id (1..=0x7FFFFFFF) || grant (9.1)."""
    auth_id, role, flags, not_before, not_after = struct.unpack("<I" + GRANT.format[1:], b)
    need(1 <= auth_id <= 0x7FFFFFFF and role in (1, 2) and flags <= 1 and not_before <= not_after)
    return auth_id, {"role": ["admin", "user"][role - 1], "remote_allowed": bool(flags),
                     "not_before": not_before, "not_after": not_after}


def pairing_keys(spake2_key):
    """7.2, from the code alone: k_enc and session_seed."""
    prk = hkdf_extract(b"lockgate v1 pairing", spake2_key)
    return [hkdf_expand(prk, b"lockgate v1 " + info, 32)
            for info in (b"pairing encryption", b"session seed")]


BOUND = ("box_key", "session_key", "k_confirm_endpoint", "k_confirm_lock")


def bound_keys(session_seed, own_sk, peer_pk):
    """7.2, also from the static key pair: box_key, then from prk2 the session key and both
    confirmation keys (in BOUND's order)."""
    k = box_key(own_sk, peer_pk)
    prk2 = hkdf_extract(session_seed, k)
    return [k] + [hkdf_expand(prk2, b"lockgate v1 " + info, 32) for info in (
        b"session key", b"endpoint confirmation", b"lock confirmation")]


def transcript(pairing_id, lock_id, start_body, msg_b, lock_pk, endpoint_pk):
    """7.3."""
    return sha256(b"lockgate v1 pairing transcript" + struct.pack("<I", pairing_id) + lock_id
                  + start_body + msg_b + lock_pk + endpoint_pk)


def parse_pair_start(body):
    """The lock's strict parse: code_kind, invite_id, name (str8), msg_A; exact length."""
    kind, invite_id, n = struct.unpack_from("<BHB", body)
    name, msg_a = body[4:4 + n], body[4 + n:]
    need(((kind, invite_id) == (1, 0) or kind == 2 and invite_id <= 9999) and len(name) == n
         and valid_name(name) and len(msg_a) == 33)
    return kind, invite_id, name, msg_a


def run_pairing(v):
    """Section 7; returns the endpoint and the lock, each with its own session state."""
    pid, lock_id = v["pairing_id"], unhex(v["lock_id"])
    frames = {k: unhex(v["frames"][k]) for k in ("pair_start", "pair_reply", "pair_confirm",
                                                 "pair_done")}
    e_sk, l_sk = unhex(v["endpoint_secret_key"]), unhex(v["lock_secret_key"])
    e_pk, l_pk = na.crypto_scalarmult_base(e_sk), na.crypto_scalarmult_base(l_sk)
    check("public keys", (e_pk, l_pk), (unhex(v["endpoint_public_key"]),
                                        unhex(v["lock_public_key"])))
    # Both sides know the label code (5.1), the lock id and the endpoint's name (4).
    digits = v["label_code"].replace(" ", "").replace("-", "")
    check("label code is acceptable (5.1)", good_label(digits), True)
    pw, name = b"lockgate v1 label:" + digits.encode(), v["endpoint_name"].encode()
    id_a, id_b = b"lockgate v1 endpoint:" + name, b"lockgate v1 lock:" + lock_id.hex().encode()
    check("spake2_password, spake2_id_a, spake2_id_b", (pw, id_a, id_b),
          tuple(unhex(v[k]) for k in ("spake2_password", "spake2_id_a", "spake2_id_b")))
    x_wide, y_wide = unhex(v["spake2_x_wide"]), unhex(v["spake2_y_wide"])
    x, y = (int.from_bytes(w, "little") % L for w in (x_wide, y_wide))
    check("spake2_x, spake2_y", (le32(x), le32(y)), (unhex(v["spake2_x"]), unhex(v["spake2_y"])))

    # Endpoint -> PairStart (counter 1): label code, invite id 0, name, msg_A.
    check("pairing id has the top bit set", pid >> 31, 1)
    msg_a = spake2_message(b"A", x, pw)
    start_body = b"\x01" + struct.pack("<H", 0) + str8(name) + msg_a
    check("pair_start (endpoint)", header(1, pid, 1) + start_body, frames["pair_start"])

    # Lock <- PairStart (7.5): parse, window open (its button was pressed at now_ms, 11.2),
    # msg_A valid, one attempt charged -> PairReply (counter 2).
    lock = Lock(v["now_ms"])
    body = envelope("lock <- PairStart", frames["pair_start"], 1, pid, 1, 37 + len(name))
    kind, invite_id, l_name, l_msg_a = parse_pair_start(body)
    print(f"PairStart: code_kind {kind}, invite_id {invite_id}, name {l_name.decode()!r}")
    msg_b = spake2_message(b"B", y, pw)
    check("lock: msg_A passes 3.1", spake2_faults(msg_b, l_msg_a), [])
    l_key = spake2_key(b"B", y, pw, b"lockgate v1 endpoint:" + l_name, id_b, l_msg_a, msg_b)
    l_enc, l_seed = pairing_keys(l_key)
    check("pair_reply (lock)", header(1, pid, 2) + msg_b + seal(l_enc, pair_nonce(2), l_pk),
          frames["pair_reply"])

    # Endpoint <- PairReply (7.4 step 2): msg_B valid, k_enc opens the lock's key; then
    # box_key, the bound keys and T -> PairConfirm (counter 3).
    body = envelope("endpoint <- PairReply", frames["pair_reply"], 1, pid, 2, 81)
    check("endpoint: msg_B passes 3.1", spake2_faults(msg_a, body[:33]), [])
    e_key = spake2_key(b"A", x, pw, id_a, id_b, msg_a, body[:33])
    e_enc, e_seed = pairing_keys(e_key)
    check("spake2_key, k_enc, session_seed (endpoint, lock)", ((e_key, e_enc, e_seed),
          (l_key, l_enc, l_seed)), (tuple(unhex(v[k]) for k in (
              "spake2_key", "k_enc", "session_seed")),) * 2)
    got_l_pk = unseal(e_enc, pair_nonce(2), body[33:])
    check("endpoint opens sealed_lock_key", got_l_pk, l_pk)
    e_keys = bound_keys(e_seed, e_sk, got_l_pk)
    e_t = transcript(pid, lock_id, start_body, body[:33], got_l_pk, e_pk)
    check("pair_confirm (endpoint)", header(1, pid, 3) + seal(e_enc, pair_nonce(3), e_pk)
          + hmac256(e_keys[2], e_t), frames["pair_confirm"])

    # Lock <- PairConfirm (7.5): open, box_key and the bound keys, verify confirm_E, enroll,
    # persist -> PairDone (counter 4).
    body = envelope("lock <- PairConfirm", frames["pair_confirm"], 1, pid, 3, 80)
    got_e_pk = unseal(l_enc, pair_nonce(3), body[:48])
    check("lock opens sealed_endpoint_key", got_e_pk, e_pk)
    l_keys = bound_keys(l_seed, l_sk, got_e_pk)
    l_t = transcript(pid, lock_id, frames["pair_start"][14:], msg_b, l_pk, got_e_pk)
    check("lock: confirm_E verifies", hmac.compare_digest(body[48:], hmac256(l_keys[2], l_t)),
          True)
    check(", ".join(BOUND) + ", transcript_hash (endpoint, lock)", (e_keys + [e_t], l_keys
          + [l_t]), ([unhex(v[k]) for k in BOUND + ("transcript_hash",)],) * 2)
    auth = lock.enroll(l_keys[1])
    pair_grant = struct.pack("<I", auth["id"]) + auth["grant"]
    check("pair_grant (lock)", pair_grant, unhex(v["pair_grant"]))
    check("pair_done (lock)", header(1, pid, 4) + seal(l_enc, pair_nonce(4), pair_grant)
          + hmac256(l_keys[3], l_t + pair_grant), frames["pair_done"])

    # Endpoint <- PairDone (7.4 step 3): open the grant, check confirm_L, store session_key.
    body = envelope("endpoint <- PairDone", frames["pair_done"], 1, pid, 4, 70)
    got = unseal(e_enc, pair_nonce(4), body[:38])
    check("endpoint: confirm_L verifies",
          hmac.compare_digest(body[38:], hmac256(e_keys[3], e_t + got)), True)
    auth_id, grant = decode_pair_grant(got)
    print(f"PairDone: auth_id {auth_id}, grant {grant}")
    check("auth_id (endpoint, lock)", (auth_id, auth["id"]), (v["auth_id"],) * 2)

    # python-spake2 must agree (it reads entropy big-endian: feed it the reversed bytes).
    py = lambda cls, wide: cls(pw, idA=id_a, idB=id_b, entropy_f=lambda n: wide[::-1])
    a, b = py(SPAKE2_A, x_wide), py(SPAKE2_B, y_wide)
    ma, mb = a.start(), b.start()
    check("python-spake2: msg_A, msg_B, keys", (ma, mb, a.finish(mb), b.finish(ma)),
          (msg_a, msg_b, e_key, e_key))
    # Each invalid message is refused by the side it is sent to (whose own message is the
    # published one) for exactly the reason given; python-spake2 refuses it too, unless it is
    # merely non-canonical (3.1: "python-spake2's rule plus canonicity").
    sides = {"to_endpoint": (SPAKE2_A, x_wide, msg_a), "to_lock": (SPAKE2_B, y_wide, msg_b)}
    for to, (cls, wide, own) in sides.items():
        for bad in v["invalid_spake2_messages"][to]:
            msg, reason = unhex(bad["msg"]), bad["reason"]
            faults = spake2_faults(own, msg)
            print(f"  invalid message {to} ({reason}): breaks {faults}")
            check(f"{to}: refused for {reason!r}", faults, REASONS.get(reason, "unknown reason"))
            peer = py(cls, wide)
            peer.start()
            refused = False
            try:
                peer.finish(msg)
            except (ValueError, ed.NotOnCurve, SPAKEError):
                refused = True
            check(f"{to}: python-spake2 refuses {reason!r}", refused,
                  "non-canonical" not in faults)
    return Endpoint(e_keys[1], auth_id), lock


# --- Sections 8 and 9: sessions and commands ------------------------------------------
REJECT_AFTER = 2**64 - 2**16 - 1
MECHANISMS = [None, "locked", "unlocking", "unlocked", "locking", "unlatching", "unlatched",
              "jammed"]
DOORS = ["unknown", "closed", "open"]
session_nonce = lambda direction, hdr: direction + hdr + bytes(9)


class Window:
    """Section 8.4, fresh after a pairing (top = 0), with a set in place of the bitmap."""
    def __init__(self):
        self.top, self.seen = 0, set()

    def acceptable(self, c):
        return 1 <= c <= REJECT_AFTER and (c > self.top or self.top - c < 192
                                           and c not in self.seen)

    def record(self, c):
        self.seen.add(c)
        self.top = max(self.top, c)


class Endpoint:
    """Session state stored at PairDone: counters start at 1, replay window at top 0 (8.3)."""
    def __init__(self, key, auth_id):
        self.key, self.auth_id, self.tx, self.window, self.waiting = key, auth_id, 1, Window(), {}

    def send(self, pt):
        hdr, self.waiting[self.tx] = header(2, self.auth_id, self.tx), pt[0]
        self.tx += 1
        return hdr + seal(self.key, session_nonce(b"E", hdr), pt)

    def receive(self, frame, counter):
        """8.4 and 8.5 for a response; returns its opcode and fields."""
        body = envelope(f"endpoint <- #{counter}", frame, 2, self.auth_id, counter)
        pt = unseal(self.key, session_nonce(b"L", frame[:14]), body)
        check(f"endpoint: #{counter} acceptable, opens", (self.window.acceptable(counter),
                                                          pt is not None), (True, True))
        self.window.record(counter)
        if pt[:1] == b"\x40":                           # an event (9.6): no request waits
            return 0x40, pt[1:]
        op, in_reply_to, result = struct.unpack_from("<BQB", pt)
        check(f"endpoint: #{counter} answers a request, result 0",
              (self.waiting.pop(in_reply_to) | 0x80, result), (op, 0))
        return op & 0x7F, pt[10:]


class Lock:
    """The lock's side: window and enrollment (7.5), sessions (8.5, 9.4). Of the commands it
    carries out only those of the vector: status, challenge, unlock. Its one authorization is
    a remote-allowed admin without time limits, so the checks of 9.3 pass for them."""
    def __init__(self, now):
        self.now, self.auths, self.next_id = now, {}, 1
        self.window_open, self.clock_set = True, False

    def enroll(self, key):
        """7.5 step 4 for a label code and a key not enrolled yet: the next id (the first is
        1), admin if the lock has no admin, remote use, no time limits; then step 6."""
        admin = any(a["grant"][0] == 1 for a in self.auths.values())
        auth_id, self.next_id, self.window_open = self.next_id, self.next_id + 1, False
        self.auths[auth_id] = {"id": auth_id, "key": key, "tx": 1, "window": Window(),
                               "grant": GRANT.pack(2 if admin else 1, 1, 0, FOREVER),
                               "challenges": []}
        return self.auths[auth_id]

    def receive(self, frame, now):
        """8.5 in order; returns (response frame, plaintext) or (error frame, None)."""
        _, _, a, c = HEADER.unpack_from(frame)
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
        result, fields = self.execute(auth, pt, now)
        hdr, auth["tx"] = header(2, a, auth["tx"]), auth["tx"] + 1
        response = struct.pack("<BQB", pt[0] | 0x80, c, result) + fields
        return hdr + seal(auth["key"], session_nonce(b"L", hdr), response), response

    def status(self, now):
        """The status fields (9.2); time_ms is 0: the clock was never set. A movement that
        started 1500 ms ago or more has ended (11.1)."""
        s = self.state
        if self.moving_since is not None and now >= self.moving_since + 1500:
            self.mechanism, self.moving_since = MECHANISMS.index("unlocked"), None
        return struct.pack("<BBBBQ", self.mechanism, DOORS.index(s["door"]),
                           s["battery_percent"], self.window_open | self.clock_set << 1
                           | s["unlatch_supported"] << 2, 0) + str8(s["firmware"].encode())

    def event(self, auth, cause, now):
        """9.6: one event to a subscribed authorization, under its next counter."""
        need(now < auth["subscribed_until"])
        pt = b"\x40" + struct.pack("<IB", auth["seq"], cause) + self.status(now)
        hdr, auth["tx"], auth["seq"] = header(2, auth["id"], auth["tx"]), auth["tx"] + 1, \
            auth["seq"] + 1
        return hdr + seal(auth["key"], session_nonce(b"L", hdr), pt), pt

    def execute(self, auth, pt, now):
        if pt == b"\x01":                   # status
            return 0, self.status(now)
        if pt[0] == 6:                      # subscribe (9.6): at most 3600 s
            secs = struct.unpack("<H", pt[1:])[0]
            need(len(pt) == 3 and 0 < secs <= 3600)
            auth["subscribed_until"] = now + 1000 * secs
            auth.setdefault("seq", 0)            # counts from the lock's start, not per subscription
            return 0, struct.pack("<H", secs) + self.status(now)
        if pt == b"\x02":                   # challenge: the 4 newest are kept
            auth["challenges"] = (auth["challenges"] + [(self.random, now)])[-4:]
            return 0, self.random + struct.pack("<I", 30_000)
        need(pt[0] == 4 and len(pt) == 17)  # unlock: its challenge is consumed whatever follows
        found = [e for e in auth["challenges"] if hmac.compare_digest(e[0], pt[1:])]
        auth["challenges"] = [e for e in auth["challenges"] if e not in found]
        if not found or now >= found[0][1] + 30_000:
            return (12 if found else 11), b""                # challenge_expired / _invalid
        if MECHANISMS[self.mechanism] in ("unlocking", "locking", "unlatching", "unlatched"):
            return 13, b""                                   # mechanism_busy
        self.mechanism, self.moving_since = MECHANISMS.index("unlocking"), now
        return 0, bytes([self.mechanism])


def compare_frames(f, direction, pt, frame):
    """A frame built by its sender against the published one; 'E' or 'L' leads the nonce."""
    c, nonce = HEADER.unpack_from(frame)[3], session_nonce(direction[:1].upper().encode(),
                                                            frame[:14])
    print(f"  {direction} #{c}: {pt.hex()}")
    check(f"{direction} #{c}: direction, counter, nonce, plaintext, frame",
          (direction, c, nonce, pt, frame), (f["direction"], f["counter"],
          unhex(f["nonce"]), unhex(f["plaintext"]), unhex(f["frame"])))


def run_events(v, endpoint, lock):
    """Section 9.6 after the session: subscribe, a turn by hand, the door opened."""
    clock, frames = v["lock_clock_ms"], v["frames"]
    check("events auth_id", v["auth_id"], endpoint.auth_id)
    auth = lock.auths[endpoint.auth_id]
    pt = b"\x06" + struct.pack("<H", 600)
    compare_frames(frames[0], "endpoint_to_lock", pt, endpoint.send(pt))
    frame, pt = lock.receive(unhex(frames[0]["frame"]), clock["subscribe"])
    compare_frames(frames[1], "lock_to_endpoint", pt, frame)
    op, fields = endpoint.receive(unhex(frames[1]["frame"]), frames[1]["counter"])
    check("subscribed for 600 s, the unlock has completed", (op, fields[:3]),
          (6, struct.pack("<HB", 600, MECHANISMS.index("unlocked"))))
    lock.mechanism = MECHANISMS.index("locked")               # the knob, by hand
    knob = lock.event(auth, 1, clock["knob_turned"])          # manual
    lock.state["door"] = "open"
    door = lock.event(auth, 4, clock["door_opened"])          # door
    for published, (frame, pt) in zip(frames[2:], (knob, door)):
        compare_frames(published, "lock_to_endpoint", pt, frame)
        op, fields = endpoint.receive(unhex(published["frame"]), published["counter"])
        check(f"event #{published['counter']} is an event", op, 0x40)
    check("two events", len(frames), 4)


def run_session(v, endpoint, lock):
    """Status, challenge, unlock with it (section 15), then the replay of the first request."""
    s, clock, frames = v["lock_state"], v["lock_clock_ms"], v["frames"]
    check("session auth_id", v["auth_id"], endpoint.auth_id)
    check("the session follows the pairing on the lock's clock", lock.now < clock[0], True)
    check("lock: window closed by the pairing, clock never set",
          (lock.window_open, lock.clock_set), (s["pairing_window_open"], s["clock_set"]))
    lock.state = {k: s[k] for k in ("door", "battery_percent", "unlatch_supported", "firmware")}
    lock.mechanism = MECHANISMS.index(s["mechanism"])
    lock.moving_since = None
    lock.random = unhex(v["lock_challenge_randomness"])

    compare = compare_frames
    challenge = None
    requests = (lambda: b"\x01", lambda: b"\x02", lambda: b"\x04" + challenge)
    for i, (make_request, now) in enumerate(zip(requests, clock)):
        request, response = frames[2 * i], frames[2 * i + 1]
        pt = make_request()
        compare(request, "endpoint_to_lock", pt, endpoint.send(pt))
        frame, pt = lock.receive(unhex(request["frame"]), now)    # the published request
        compare(response, "lock_to_endpoint", pt, frame)
        op, fields = endpoint.receive(unhex(response["frame"]), response["counter"])
        challenge = fields[:16] if op == 2 else challenge
    r = v["replay"]
    print(r["description"])
    check("replay: the first request again", r["frame"], frames[0]["frame"])
    check("replay: the lock's error frame", lock.receive(unhex(r["frame"]), clock[-1]),
          (unhex(r["answer"]), None))


def main():
    vectors = {n: Vector(json.loads((VECTORS / f"{n}.json").read_text()), n)
               for n in ("pairing", "session", "events")}
    try:
        print(vectors["pairing"]["description"])
        endpoint, lock = run_pairing(vectors["pairing"])
        print(vectors["session"]["description"])
        run_session(vectors["session"], endpoint, lock)
        print(vectors["events"]["description"])
        run_events(vectors["events"], endpoint, lock)
        failed.extend(f"{key}: not checked" for v in vectors.values() for key in v.unread())
    except Exception as e:          # a malformed vector aborts the run but is still reported
        failed.append(f"aborted: {type(e).__name__}: {e}")
    return report()


def report():
    """Prints the mismatches and the totals; the exit status."""
    for f in failed:
        print("MISMATCH", f)
    print(f"{passed} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
