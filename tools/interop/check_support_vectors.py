#!/usr/bin/python3
"""Check of docs/vectors/support.json against docs/SUPPORT.md.

Built from SUPPORT.md and PROTOCOL.md §3/§3.1 only: every message is rebuilt from the inputs
(code, identities, the published SPAKE2 draws, the plaintexts) with libsodium and compared
with the published bytes, and python-spake2 must agree on the SPAKE2 part. It shares the
building blocks of check_vectors.py (HKDF, secretbox, SPAKE2 on libsodium's Ed25519).
Every value in the file must be read: an unread key is a failure.
Needs Debian's python3-nacl and python3-spake2:
/usr/bin/python3 tools/interop/check_support_vectors.py
The last line is `N passed, M failed`; the exit status is 0 only if M is 0.
"""
import json
import struct
import sys

from check_vectors import (L, VECTORS, Vector, check, failed, hkdf_expand, hkdf_extract,
                           hmac256, report, seal, sha256, spake2_faults, spake2_key,
                           spake2_message, unhex, unseal)
from spake2 import SPAKE2_A, SPAKE2_B

REASONS = ["no_code", "throttled", "busy", "code_burned", "failed", "malformed", "no_session",
           "stopped"]


def header(kind, sid):
    """§3: version 1, type, session id."""
    return bytes([1, kind]) + sid


def trivial(d):
    """§7: one digit, a run up or down (mod 10), a block of up to 6 repeated, < 4 digits."""
    steps = {(int(b) - int(a)) % 10 for a, b in zip(d, d[1:])}
    run = len(steps) == 1 and steps <= {0, 1, 9}
    periodic = any(all(d[i] == d[i + p] for i in range(len(d) - p)) for p in range(1, 7))
    return run or periodic or len(set(d)) < 4


def run(v):
    gateway_id, operator = v["gateway_id"].encode(), v["operator"].encode()
    code = v["code"]
    check("code: 12 digits, not trivial", (len(code), code.isdigit(), trivial(code)),
          (12, True, False))
    check("code_grouped", v["code_grouped"], "-".join(code[i:i + 3] for i in range(0, 12, 3)))
    for t in v["trivial_codes"]:
        check(f"trivial code {t}", trivial(t), True)
    print(f"  code {v['code_grouped']} from gateway seed {v['gateway_rng_seed']}, "
          f"session from client seed {v['client_rng_seed']}")
    sid = unhex(v["session_id"])
    pw = b"lockgate v1 support:" + code.encode()
    id_a = b"lockgate v1 support client:" + sid.hex().encode() + b":" + operator
    id_b = b"lockgate v1 support gateway:" + gateway_id
    check("spake2 password and identities",
          (unhex(v["spake2_password"]), unhex(v["spake2_id_a"]), unhex(v["spake2_id_b"])),
          (pw, id_a, id_b))

    x_wide, y_wide = unhex(v["spake2_x_wide"]), unhex(v["spake2_y_wide"])
    x, y = (int.from_bytes(w, "little") % L for w in (x_wide, y_wide))
    check("scalars", (unhex(v["spake2_x"]), unhex(v["spake2_y"])),
          (x.to_bytes(32, "little"), y.to_bytes(32, "little")))
    msg_a, msg_b = spake2_message(b"A", x, pw), spake2_message(b"B", y, pw)
    check("msg_A and msg_B are valid for each other",
          (spake2_faults(msg_b, msg_a), spake2_faults(msg_a, msg_b)), ([], []))
    key = spake2_key(b"A", x, pw, id_a, id_b, msg_a, msg_b)
    check("spake2_key (both sides)", (key, spake2_key(b"B", y, pw, id_a, id_b, msg_a, msg_b)),
          (unhex(v["spake2_key"]),) * 2)
    py = lambda cls, wide: cls(pw, idA=id_a, idB=id_b, entropy_f=lambda n: wide[::-1])
    a, b = py(SPAKE2_A, x_wide), py(SPAKE2_B, y_wide)
    ma, mb = a.start(), b.start()
    check("python-spake2 agrees", (ma, mb, a.finish(mb), b.finish(ma)), (msg_a, msg_b, key, key))

    # §3 Hello, §4 transcript and key schedule.
    hello = header(1, sid) + bytes([len(operator)]) + operator + msg_a
    check("hello", unhex(v["messages"]["hello"]), hello)
    t = sha256(b"lockgate v1 support transcript" + bytes([len(gateway_id)]) + gateway_id +
               hello + msg_b)
    check("transcript_hash", unhex(v["transcript_hash"]), t)
    prk = hkdf_extract(t, key)
    keys = {name: hkdf_expand(prk, f"lockgate v1 support {info}".encode(), 32) for name, info in (
        ("k_confirm_gateway", "gateway confirmation"), ("k_confirm_client", "client confirmation"),
        ("k_client_to_gateway", "client to gateway"), ("k_gateway_to_client", "gateway to client"))}
    for name, k in keys.items():
        check(name, unhex(v[name]), k)
    reply = header(2, sid) + msg_b + hmac256(keys["k_confirm_gateway"], t)
    confirm = header(3, sid) + hmac256(keys["k_confirm_client"], t)
    check("reply", unhex(v["messages"]["reply"]), reply)
    check("confirm", unhex(v["messages"]["confirm"]), confirm)

    # §5 records, §6 plaintexts: rebuild each from its plaintext; counters go 1, 2, 3 per side.
    directions = {"client_to_gateway": (b"C", keys["k_client_to_gateway"]),
                  "gateway_to_client": (b"G", keys["k_gateway_to_client"])}
    sent = {d: 0 for d in directions}
    for i, r in enumerate(v["records"]):
        d = r["direction"]
        sent[d] += 1
        letter, k = directions[d]
        head = header(4, sid) + struct.pack("<Q", sent[d])
        nonce = letter + head + bytes(5)
        plain = r["plaintext"].encode()
        check(f"record {i}: counter, nonce", (r["counter"], unhex(r["nonce"])), (sent[d], nonce))
        check(f"record {i}: message", unhex(r["message"]), head + seal(k, nonce, plain))
        other = directions["gateway_to_client" if d == "client_to_gateway" else
                           "client_to_gateway"][1]
        check(f"record {i}: does not open the other way", unseal(other, nonce,
                                                                 unhex(r["message"])[18:]), None)
        print(f"  {d} {sent[d]}: {r['plaintext']}")
    first = json.loads(v["records"][0]["plaintext"])
    check("the first record is the welcome", (first["type"], first["gateway"]),
          ("welcome", v["gateway_id"]))

    # §3 refusals.
    for r in v["refusals"]:
        want = header(5, sid) + bytes([REASONS.index(r["reason"]) + 1]) + struct.pack(
            "<I", r["retry_after_secs"])
        check(f"refusal {r['reason']}", (unhex(r["message"]), r["code"]),
              (want, REASONS.index(r["reason"]) + 1))
    # §7 throttle.
    check("throttle_delays_ms", v["throttle_delays_ms"],
          [0] + [min(5000 * 2 ** (n - 1), 900_000) for n in range(1, 11)])


def main():
    v = Vector(json.loads((VECTORS / "support.json").read_text()), "support")
    try:
        print(v["description"])
        run(v)
        failed.extend(f"{key}: not checked" for key in v.unread())
    except Exception as e:          # a malformed vector aborts the run but is still reported
        failed.append(f"aborted: {type(e).__name__}: {e}")
    return report()


if __name__ == "__main__":
    sys.exit(main())
