#!/usr/bin/env python3
"""Verify an exported audit log offline:

    python offline_verify.py audit.jsonl public-key.json [min-position]

Standalone (needs only the `cryptography` package). Inputs: the JSON Lines from
`GET /v1/audit/export?format=jsonl` (or `privacy audit export`), unfiltered, and the JSON
from `GET /v1/audit/public-key`. Exit 0 if every checkpoint signature, the checkpoint chain,
the entry hash chain and every seal agree; exit 1 naming the first problem. Format:
privacy-audit/1 (privacy/audit/VERIFYING.md). Per-entry MACs need the service's secret
key and are checked only online (`privacy audit verify`). `min-position`: the position of
the latest seal you kept from an earlier check; a log that ends before it was truncated.
"""

import base64
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("ascii")


def main(log_path, key_path, expect_seq=0):
    with open(key_path) as fh:
        keys = {int(v): base64.b64decode(k) for v, k in json.load(fh)["keys"].items()}
    with open(log_path) as fh:
        lines = [json.loads(line) for line in fh if line.strip()]
    checkpoints, entries = [], []
    for x in lines:
        (checkpoints if x.pop("type") == "checkpoint" else entries).append(x)
    prev_digest, floor, floor_hash = "0" * 64, 0, bytes(32)
    for i, cp in enumerate(checkpoints, start=1):
        signature = cp.pop("signature")
        payload = canonical(cp)
        _, version, sig = signature.split(":", 2)
        public = Ed25519PublicKey.from_public_bytes(keys[int(version[1:])])
        try:
            public.verify(base64.b64decode(sig), payload)
        except InvalidSignature:
            return f"checkpoint {cp['number']}: bad signature"
        if cp["number"] != i or cp["prev"] != prev_digest:
            return f"checkpoint {cp['number']}: checkpoint chain broken"
        prev_digest = hashlib.sha256(payload).hexdigest()
        if cp["kind"] == "purge":
            floor, floor_hash = cp["seq"], bytes.fromhex(cp["hash"])
    seals = {cp["seq"]: cp["hash"] for cp in checkpoints if cp["kind"] == "seal"}
    prev, position = floor_hash, floor
    for entry in sorted(entries, key=lambda e: e["seq"]):
        if entry["seq"] <= floor:
            continue
        stored = entry.pop("hash")
        if entry["seq"] != position + 1:
            return f"entry at position {position + 1} is missing"
        where = {k: entry.pop(k) for k in ("id", "mac", "seq")}
        prev = hashlib.sha256(prev + canonical({"entry": entry, **where})).digest()
        entry.update(where)
        if prev.hex() != stored:
            return f"entry {entry['id']} (position {entry['seq']}): hash mismatch"
        if entry["seq"] in seals and seals[entry["seq"]] != stored:
            return f"seal at position {entry['seq']} does not match the chain"
        position = entry["seq"]
    last_checkpoint = max((cp["seq"] for cp in checkpoints), default=0)
    if last_checkpoint > position or expect_seq > position:
        return f"truncated: sealed through {last_checkpoint}, log ends at {position}"
    print(f"ok: {position - floor} entries, {len(checkpoints)} checkpoints, head {position}")
    return None


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    problem = main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) == 4 else 0)
    if problem:
        sys.exit(f"TAMPERED: {problem}")
